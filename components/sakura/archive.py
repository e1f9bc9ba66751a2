"""A private archive uploaded from a local disk image (Sakura has no public VyOS archive).

The image file is read only when the archive is created: previews and later runs never need it, and
a different build of the image never replaces the archive (nor, through it, the router's disk). To
use another image, upload it under another archive, or pin an existing archive's ID in the stack
file (`router.vyosImage.archiveId`), which is the way after the first upload.

The upload goes to the FTPS server the create answer names. The file name on that server and the
close-then-wait sequence follow the official tools; both are UNCONFIRMED in the reference.
"""

from __future__ import annotations

import ftplib
import hashlib
import os
import ssl
from typing import BinaryIO, Callable, Optional

import pulumi

from .client import AmbiguousRequest, SakuraApiError
from .provider import PACKAGE, Common, SakuraResourceType, failed_availability, is_unclear_create


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ftps_upload(server: dict, remote_name: str, stream: BinaryIO) -> None:
    """Upload to the FTPS server an archive or ISO create names, with certificate verification; the API
    names no port, so 21 unless it does."""
    ftp = ftplib.FTP_TLS(context=ssl.create_default_context())
    ftp.connect(server["HostName"], int(server.get("Port", 21)), timeout=120)
    ftp.login(server["User"], server["Password"])
    ftp.prot_p()
    ftp.storbinary(f"STOR {remote_name}", stream)
    ftp.quit()


class UploadedType(SakuraResourceType):
    """What an archive and an ISO image share: made empty, filled over FTPS, then closed and waited for."""

    def upload(self, news: dict, size_mb: int, remote_name: str, open_stream: Callable[[], BinaryIO]) -> str:
        """The object's ID once its upload is done; a half-finished upload of an earlier run is taken over."""
        c = self.client(news)
        tags = self.tags_for(news)
        found, ftp = self.find_tagged(c, tags), None
        if found is None:
            body = {self.envelope: {"Name": news["name"], "Description": news.get("description", ""), "Tags": tags, "SizeMB": size_mb}}
            try:
                answer = c.post(self.resource, body)
                found, ftp = answer[self.envelope], answer["FTPServer"]
            except (AmbiguousRequest, SakuraApiError) as e:
                if not is_unclear_create(e):
                    raise
                found = c.wait_until(f"{self.resource} after an unclear create", lambda: self.find_tagged(c, tags), bool)
        object_id = str(found["ID"])
        if found.get("Availability") == "uploading":
            # New, or left half-uploaded by an earlier run: (re)open its FTP server and upload.
            ftp = ftp or c.put(f"{self.resource}/{object_id}/ftp", {"ChangePassword": True})["FTPServer"]
            with open_stream() as stream:
                ftps_upload(ftp, remote_name, stream)
            c.delete(f"{self.resource}/{object_id}/ftp")
        c.wait_until(f"{self.resource} {object_id} available", lambda: c.get(f"{self.resource}/{object_id}")[self.envelope],
                     lambda a: a.get("Availability") == "available", failed_availability)
        return object_id

    def read(self, id_: str, state: dict) -> Optional[dict]:
        found = self.client(state).get_or_none(f"{self.resource}/{state.get('sakuraId', id_)}")
        return state if found else None

    def delete(self, id_: str, state: dict) -> None:
        self.client(state).delete_if_exists(f"{self.resource}/{state.get('sakuraId', id_)}")


class ArchiveType(UploadedType):
    token = f"{PACKAGE}:sakura:Archive"
    resource, envelope, list_key = "archive", "Archive", "Archives"
    replace_keys = ("zone", "sizeGb")
    create_only_keys = ("file",)
    computed_keys = ("sakuraId", "fileSha256")

    def create(self, news: dict) -> tuple[str, dict]:
        path = news["file"]
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"image file {path} not found (paths are relative to the project root): it is needed once, to upload "
                "the archive; after that pin the archive's ID in the stack file (router.vyosImage.archiveId)")
        archive_id = self.upload(news, int(news["sizeGb"]) * 1024, os.path.basename(path), lambda: open(path, "rb"))
        return archive_id, {**news, "sakuraId": archive_id, "fileSha256": file_sha256(path)}


class Archive(pulumi.CustomResource):
    sakuraId: pulumi.Output[str]
    fileSha256: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, sakura_name: str, file: str, size_gb: int,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {**common.inputs(sakura_name, "uploaded router image"), "file": file, "sizeGb": size_gb,
                 "sakuraId": None, "fileSha256": None}
        super().__init__(ArchiveType.token, resource_name, props, common.options(opts))
