"""An SSD from a public archive (by OS tag), an archive ID, or blank, with disk edit at creation.

Disk edit (ディスクの修正) applies only when a disk is made from an archive: its parameters are
create-only. A later change of them (an operator key added to the stack file) never replaces the
disk; operator keys are kept up to date on the running node by a command instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from . import catalog
from .client import SakuraApiError, SakuraClient
from .provider import PACKAGE, Common, SakuraResourceType, failed_availability


class DiskType(SakuraResourceType):
    token = f"{PACKAGE}:sakura:Disk"
    resource, envelope, list_key = "disk", "Disk", "Disks"
    replace_keys = ("zone", "sizeGb", "planId", "connection", "source")
    create_only_keys = ("edit",)
    computed_keys = ("sakuraId", "sourceArchiveId")

    def _archive_id(self, c: SakuraClient, source: dict) -> Optional[str]:
        if source.get("archiveId"):
            return str(source["archiveId"])
        if source.get("osTag"):
            found = c.find("archive", "Archives", {"Tags.Name": [[source["osTag"]]], "Scope": ["shared"]})
            if not found:
                raise SakuraApiError("GET", f"{c.endpoint}/archive", 404, "not_found", f"no public archive tagged {source['osTag']!r} in zone {c.zone}")
            return str(found[0]["ID"])
        return None

    @staticmethod
    def edit_body(edit: dict) -> dict:
        body: dict[str, Any] = {
            "HostName": edit["hostName"],
            "SSHKeys": [{"ID": int(k)} for k in edit.get("sshKeyIds") or []] + [{"PublicKey": k} for k in edit.get("publicKeys") or []],
            "Password": edit["password"],
            "DisablePWAuth": bool(edit.get("disablePasswordAuth", True)),
            "EnableDHCP": False,
            "ChangePartitionUUID": True,
        }
        if edit.get("ipAddress"):
            body["UserIPAddress"] = edit["ipAddress"]
            body["UserSubnet"] = {"DefaultRoute": edit.get("gateway") or "", "NetworkMaskLen": int(edit["prefixLength"])}
        return body

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
            body: dict[str, Any] = {"Disk": disk, "BootAtAvailable": False}
            if news.get("edit"):
                body["Config"] = self.edit_body(news["edit"])
            return c.post("disk", body)

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
        return {**state, "name": found["Disk"]["Name"]} if found else None

    def delete(self, id_: str, state: dict) -> None:
        c = self.client(state)
        disk_id = state.get("sakuraId", id_)
        if c.get_or_none(f"disk/{disk_id}") is None:
            return
        # The server that used it is deleted (or re-attached elsewhere) first; wait until it lets go.
        c.wait_until(f"disk {disk_id} detached", lambda: c.get_or_none(f"disk/{disk_id}"),
                     lambda d: d is None or not (d["Disk"].get("Server") or {}).get("ID"))
        c.delete_if_exists(f"disk/{disk_id}")


@dataclass(frozen=True)
class DiskEdit:
    """Disk edit applied when the disk is created: host name, keys, the login user's password (for
    sudo only: SSH password login is disabled), the first NIC's address."""

    host_name: str
    ssh_key_ids: tuple[pulumi.Input[str], ...]
    password: pulumi.Input[str]
    public_keys: tuple[str, ...] = ()
    ip_address: Optional[pulumi.Input[str]] = None
    prefix_length: Optional[pulumi.Input[int]] = None
    gateway: Optional[pulumi.Input[str]] = None

    def inputs(self) -> dict:
        return {"hostName": self.host_name, "sshKeyIds": list(self.ssh_key_ids), "password": self.password,
                "publicKeys": list(self.public_keys), "ipAddress": self.ip_address,
                "prefixLength": self.prefix_length, "gateway": self.gateway, "disablePasswordAuth": True}


class Disk(pulumi.CustomResource):
    sakuraId: pulumi.Output[str]
    sourceArchiveId: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, sakura_name: str, size_gb: int, source: dict,
                 edit: Optional[DiskEdit], opts: Optional[pulumi.ResourceOptions] = None):
        props = {**common.inputs(sakura_name, "managed by contest-k8s"), "sizeGb": size_gb, "planId": catalog.SSD_PLAN_ID,
                 "connection": "virtio", "source": source, "edit": edit.inputs() if edit else None,
                 "sakuraId": None, "sourceArchiveId": None}
        super().__init__(DiskType.token, resource_name, props, common.options(opts))
