"""A cloud-init NoCloud seed as a Sakura ISO image (`/cdrom`), for the VyOS router's first boot.

The provider builds the ISO itself (an ISO 9660 volume labelled `cidata` with Rock Ridge and Joliet
names, by pycdlib, pure Python, so `pulumi up` needs no mkisofs), uploads it over FTPS the way
archives are uploaded, and the server inserts it before its first boot. cloud-init reads it once
(per instance-id), so the files are create-only: a later change of them replaces nothing.

UNCONFIRMED in Sakura's documentation: that a guest sees an inserted ISO as a block device cloud-init
finds by its label at first boot (Sakura's own cloud-init support is documented for its "cloudimg"
archives with user data through the API). The `vyos` flavor, which depends on it, says so in the README.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Optional

import pulumi
import pycdlib

from .archive import ftps_upload
from .client import AmbiguousRequest
from .provider import PACKAGE, Common, SakuraResourceType, failed_availability

SEED_LABEL = "cidata"
ISO_SIZE_MB = 5 * 1024  # the smallest ISO image Sakura offers


def build_iso(files: dict[str, str]) -> bytes:
    """An ISO 9660 volume labelled `cidata` holding `files` at its root, with their names as given."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=SEED_LABEL)
    for name, text in sorted(files.items()):
        data = text.encode()
        iso.add_fp(io.BytesIO(data), len(data), "/" + name.replace("-", "").upper()[:30] + ".;1", rr_name=name, joliet_path="/" + name)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def files_sha256(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


class SeedIsoType(SakuraResourceType):
    token = f"{PACKAGE}:sakura:SeedIso"
    resource, envelope, list_key = "cdrom", "CDROM", "CDROMs"
    create_only_keys = ("files",)
    computed_keys = ("sakuraId", "filesSha256")

    def create(self, news: dict) -> tuple[str, dict]:
        c = self.client(news)
        tags = self.tags_for(news)
        cdrom, ftp = self.find_tagged(c, tags), None
        if cdrom is None:
            body = {"CDROM": {"Name": news["name"], "Description": news.get("description", ""), "Tags": tags, "SizeMB": ISO_SIZE_MB}}
            try:
                answer = c.post("cdrom", body)
                cdrom, ftp = answer["CDROM"], answer["FTPServer"]
            except AmbiguousRequest:
                cdrom = c.wait_until("ISO image after an unclear create", lambda: self.find_tagged(c, tags), bool)
        cdrom_id = str(cdrom["ID"])
        if cdrom.get("Availability") == "uploading":
            ftp = ftp or c.put(f"cdrom/{cdrom_id}/ftp", {"ChangePassword": True})["FTPServer"]
            ftps_upload(ftp, "seed.iso", io.BytesIO(build_iso(news["files"])))
            c.delete(f"cdrom/{cdrom_id}/ftp")
        c.wait_until(f"ISO image {cdrom_id} available", lambda: c.get(f"cdrom/{cdrom_id}")["CDROM"],
                     lambda a: a.get("Availability") == "available", failed_availability)
        return cdrom_id, {**news, "sakuraId": cdrom_id, "filesSha256": files_sha256(news["files"])}

    def read(self, id_: str, state: dict) -> Optional[dict]:
        found = self.client(state).get_or_none(f"cdrom/{state.get('sakuraId', id_)}")
        return state if found else None

    def delete(self, id_: str, state: dict) -> None:
        self.client(state).delete_if_exists(f"cdrom/{state.get('sakuraId', id_)}")


class SeedIso(pulumi.CustomResource):
    sakuraId: pulumi.Output[str]
    filesSha256: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, sakura_name: str, files: pulumi.Input[dict],
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {**common.inputs(sakura_name, "cloud-init seed (first boot)"), "files": files, "sakuraId": None, "filesSha256": None}
        super().__init__(SeedIsoType.token, resource_name, props, common.options(opts))
