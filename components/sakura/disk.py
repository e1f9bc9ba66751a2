"""An SSD from a public archive (by OS tag), an archive ID, or blank.

The copy starts as soon as the stack starts: it needs nothing of the rest. Disk edit is its own
resource (disk_edit.py), applied after the copy, once the address it writes is known. Disks made
before that resource existed were edited at creation and have those parameters in their state
(`edit`, create-only: never sent again, and a DiskEdit reads from it that the disk is edited). The
first refresh or update keeps only that fact: the password leaves the state, and never comes back
unmarked (the engine marks outputs secret only where the new inputs are, and these have no `edit`).
"""

from __future__ import annotations

from typing import Any, Optional

import pulumi

from . import catalog
from .client import SakuraApiError, SakuraClient
from .provider import PACKAGE, Common, SakuraResourceType, failed_availability


EDITED_AT_CREATION = {"editedAtCreation": True}  # what a disk's state keeps of the edit it was made with


class DiskType(SakuraResourceType):
    token = f"{PACKAGE}:sakura:Disk"
    resource, envelope, list_key = "disk", "Disk", "Disks"
    replace_keys = ("zone", "sizeGb", "planId", "connection", "source")
    create_only_keys = ("edit",)  # only in the state of disks edited at creation (see above)
    computed_keys = ("sakuraId", "sourceArchiveId")

    def kept(self, state: dict) -> dict:
        kept = super().kept(state)
        return {**kept, "edit": EDITED_AT_CREATION} if kept.get("edit") else kept

    def _archive_id(self, c: SakuraClient, source: dict) -> Optional[str]:
        if source.get("archiveId"):
            return str(source["archiveId"])
        if source.get("osTag"):
            found = c.find("archive", "Archives", {"Tags.Name": [[source["osTag"]]], "Scope": ["shared"]})
            if not found:
                raise SakuraApiError("GET", f"{c.endpoint}/archive", 404, "not_found", f"no public archive tagged {source['osTag']!r} in zone {c.zone}")
            return str(found[0]["ID"])
        return None

    def create(self, news: dict) -> tuple[str, dict]:
        c = self.client(news)
        tags = self.tags_for(news)
        archive_id = self._archive_id(c, news.get("source") or {})

        def post() -> dict:
            disk: dict[str, Any] = {"Name": news["name"], "Description": news.get("description", ""), "Tags": tags,
                                    "Plan": {"ID": int(news.get("planId", catalog.SSD_PLAN_ID))},
                                    "SizeMB": int(news["sizeGb"]) * 1024, "Connection": news.get("connection", "virtio")}
            if archive_id:
                disk["SourceArchive"] = {"ID": int(archive_id)}
            return c.post("disk", {"Disk": disk, "BootAtAvailable": False})

        disk = self.adopt_or_create(c, tags, post)
        disk_id = str(disk["ID"])
        try:
            c.wait_until(f"disk {disk_id} ({news['name']}) available", lambda: c.get(f"disk/{disk_id}")["Disk"],
                         lambda d: d.get("Availability") == "available", failed_availability)
        except SakuraApiError as e:
            if e.error_code == "failed_state":
                c.delete_if_exists(f"disk/{disk_id}")  # a failed copy is useless: leave no orphan behind
            raise
        return disk_id, {**news, "sakuraId": disk_id, "sourceArchiveId": archive_id or ""}

    def read(self, id_: str, state: dict) -> Optional[dict]:
        found = self.client(state).get_or_none(f"disk/{state.get('sakuraId', id_)}")
        return {**state, **self.kept(state), "name": found["Disk"]["Name"]} if found else None

    def delete(self, id_: str, state: dict) -> None:
        c = self.client(state)
        disk_id = state.get("sakuraId", id_)
        if c.get_or_none(f"disk/{disk_id}") is None:
            return
        # The server that used it is deleted (or re-attached elsewhere) first; wait until it lets go.
        c.wait_until(f"disk {disk_id} detached", lambda: c.get_or_none(f"disk/{disk_id}"),
                     lambda d: d is None or not (d["Disk"].get("Server") or {}).get("ID"))
        c.delete_if_exists(f"disk/{disk_id}")


class Disk(pulumi.CustomResource):
    sakuraId: pulumi.Output[str]
    sourceArchiveId: pulumi.Output[str]
    edit: pulumi.Output[Optional[dict]]  # set only for a disk edited at creation (see above)

    def __init__(self, resource_name: str, common: Common, sakura_name: str, size_gb: int, source: dict,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {**common.inputs(sakura_name, "managed by contest-k8s"), "sizeGb": size_gb, "planId": catalog.SSD_PLAN_ID,
                 "connection": "virtio", "source": source, "sakuraId": None, "sourceArchiveId": None, "edit": None}
        super().__init__(DiskType.token, resource_name, props, common.options(opts))
