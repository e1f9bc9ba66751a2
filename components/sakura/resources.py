"""Sakura Cloud resources as Pulumi dynamic providers: router+switch, switch, disk, server, SSH key, archive.

Every provider follows the same rules (facts in ../shared/reference/sakura-cloud-api.md):
- Create first looks for the resource by its tags (project, stack, logical name and a hash of
  the inputs that force replacement) and adopts it if found. A create that failed after its
  POST (a timeout, 409 still_creating) therefore leaves no orphan: this run or the next one
  finds the resource and takes it over instead of creating a second.
- Replace only where the API forces it; everything else is updated in place.
- Delete of something already gone succeeds.
- Servers and routers change ID on a plan or bandwidth change; the provider tags them with
  `@previous-id=<old>` first and follows that tag whenever an ID answers 404. The Pulumi ID
  stays the first ID; the live one is the `sakuraId` output.
- Credentials come from the stack secrets `contest-k8s:sakuraAccessToken` and
  `sakuraAccessTokenSecret` (given to `configure`) or from SAKURACLOUD_ACCESS_TOKEN and
  SAKURACLOUD_ACCESS_TOKEN_SECRET; they are never inputs, outputs or part of the pickled provider.

UNCONFIRMED API behaviour is handled defensively where it is used and says so there.
The dynamic provider process imports this module by name, so Pulumi must run from the project root.
"""

from __future__ import annotations

import ftplib
import hashlib
import json
import os
import ssl
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from . import catalog
from .client import GLOBAL_ZONE, AmbiguousRequest, ClientSettings, Credentials, SakuraApiError, SakuraClient, WaitTimeout

PREVIOUS_ID_TAG = "@previous-id="


class MissingCredentials(Exception):
    pass


def spec_tag(values: dict) -> str:
    """A tag from the inputs that force replacement, so a replacement never adopts its predecessor."""
    return "spec=" + hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]


def _is_still_creating(error: Exception) -> bool:
    return isinstance(error, SakuraApiError) and error.status == 409 and error.error_code == "still_creating"


class SakuraProvider(ResourceProvider):
    """Shared plumbing: credentials, client, adopt-or-create, live-ID lookup."""

    settings: ClientSettings = ClientSettings()
    resource: str = ""
    envelope: str = ""
    list_key: str = ""
    replace_keys: tuple[str, ...] = ("zone",)
    update_keys: tuple[str, ...] = ("name", "description", "tags")
    computed_keys: tuple[str, ...] = ("sakuraId",)

    def __init__(self) -> None:
        super().__init__()
        self._credentials: Optional[Credentials] = None

    def configure(self, req: Any) -> None:
        token, secret = req.config.get("sakuraAccessToken"), req.config.get("sakuraAccessTokenSecret")
        if token and secret:
            self._credentials = Credentials(token, secret)

    def client(self, props: dict) -> SakuraClient:
        credentials = self._credentials or Credentials.from_env()
        if credentials is None:
            raise MissingCredentials(
                "no Sakura Cloud API key: export SAKURACLOUD_ACCESS_TOKEN and SAKURACLOUD_ACCESS_TOKEN_SECRET, "
                "or set the stack secrets contest-k8s:sakuraAccessToken and contest-k8s:sakuraAccessTokenSecret"
            )
        return SakuraClient(props.get("zone") or GLOBAL_ZONE, credentials, props["apiRootUrl"], self.settings)

    # -- helpers shared by the resources

    def tags_for(self, props: dict) -> list[str]:
        spec = {k: props.get(k) for k in self.replace_keys}
        tags = sorted(set(props.get("tags") or []) | {spec_tag(spec)})
        if len(tags) > catalog.MAX_TAGS:
            raise ValueError(f"{len(tags)} tags on {props.get('name')}: Sakura allows {catalog.MAX_TAGS}")
        return tags

    def adopt_or_create(self, c: SakuraClient, tags: list[str], post: Callable[[], dict]) -> dict:
        """Return the resource carrying `tags`, creating it only if none exists."""
        found = self.find_tagged(c, tags)
        if found is not None:
            return found
        try:
            return post()[self.envelope]
        except (AmbiguousRequest, SakuraApiError) as e:
            if not isinstance(e, AmbiguousRequest) and not _is_still_creating(e):
                raise
            return c.wait_until(f"{self.resource} tagged {tags} after an unclear create", lambda: self.find_tagged(c, tags), bool)

    def find_tagged(self, c: SakuraClient, tags: list[str]) -> Optional[dict]:
        found = c.find_by_tags(self.resource, self.list_key, tags)
        return min(found, key=lambda o: int(o["ID"])) if found else None

    def live(self, c: SakuraClient, sakura_id: str) -> Optional[dict]:
        """The object for an ID, following `@previous-id` chains; None if it is gone."""
        seen: set[str] = set()
        current = str(sakura_id)
        while current not in seen:
            seen.add(current)
            found = c.get_or_none(f"{self.resource}/{current}")
            if found is not None:
                return found[self.envelope]
            successors = c.find_by_tags(self.resource, self.list_key, [PREVIOUS_ID_TAG + current])
            if not successors:
                return None
            current = str(successors[0]["ID"])
        return None

    def change_with_new_id(self, c: SakuraClient, live_id: str, path: str, body: dict) -> str:
        """A PUT that gives the resource a new ID (plan, bandwidth). The caller has already tagged it
        `@previous-id=<live_id>`; if the answer is lost, that tag tells whether the change happened."""
        try:
            return str(c.request("PUT", path, body, repeatable=False)[self.envelope]["ID"])
        except AmbiguousRequest:
            current = c.wait_until(f"{self.resource} {live_id} after an unclear change", lambda: self.live(c, live_id), bool)
            if str(current["ID"]) != live_id:
                return str(current["ID"])
            return str(c.request("PUT", path, body, repeatable=False)[self.envelope]["ID"])

    def diff_keys(self, olds: dict, news: dict, keys: tuple[str, ...]) -> list[str]:
        return [k for k in keys if olds.get(k) != news.get(k)]

    def diff(self, id_: str, olds: dict, news: dict) -> DiffResult:
        """Replace only on `replace_keys` (what the API cannot change in place), update on `update_keys`."""
        replaces = self.diff_keys(olds, news, self.replace_keys)
        changed = replaces + self.diff_keys(olds, news, self.update_keys)
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        """Name, description and tags are the only fields most resources can change in place."""
        self.put_metadata(self.client(news), olds["sakuraId"], news, [])
        return UpdateResult({**news, **{k: olds.get(k, "") for k in self.computed_keys}})

    def put_metadata(self, c: SakuraClient, sakura_id: str, props: dict, keep: list[str]) -> None:
        body = {"Name": props["name"], "Description": props.get("description", ""), "Tags": sorted(set(self.tags_for(props)) | set(keep))}
        c.put(f"{self.resource}/{sakura_id}", {self.envelope: body})


def _previous_id_tags(obj: dict) -> list[str]:
    return [t for t in obj.get("Tags") or [] if t.startswith(PREVIOUS_ID_TAG)]


# --------------------------------------------------------------------------- switch


class SwitchProvider(SakuraProvider):
    resource, envelope, list_key = "switch", "Switch", "Switches"
    replace_keys = ("zone",)

    def create(self, props: dict) -> CreateResult:
        c = self.client(props)
        tags = self.tags_for(props)
        body = {"Switch": {"Name": props["name"], "Description": props.get("description", ""), "Tags": tags}}
        switch = self.adopt_or_create(c, tags, lambda: c.post("switch", body))
        return CreateResult(str(switch["ID"]), {**props, "sakuraId": str(switch["ID"])})

    def read(self, id_: str, props: dict) -> ReadResult:
        switch = self.live(self.client(props), props.get("sakuraId", id_))
        return ReadResult(id_, {**props, "name": switch["Name"]}) if switch else ReadResult("", {})

    def delete(self, id_: str, props: dict) -> None:
        c = self.client(props)
        sakura_id = props.get("sakuraId", id_)
        if self.live(c, sakura_id) is None:
            return
        c.wait_until(f"switch {sakura_id} unreferenced", lambda: c.get_or_none(f"switch/{sakura_id}"),
                     lambda s: s is None or not s["Switch"].get("ServerCount"))
        c.delete_if_exists(f"switch/{sakura_id}")


# --------------------------------------------------------------------------- router+switch


class RouterSwitchProvider(SakuraProvider):
    """`/internet`: a router with a global block and its switch. Its GET may 404 for a while after POST."""

    resource, envelope, list_key = "internet", "Internet", "Internet"
    replace_keys = ("zone", "prefixLength")
    update_keys = ("name", "description", "tags", "bandwidthMbps")

    def _network(self, c: SakuraClient, router: dict) -> dict:
        switch_id = str(router["Switch"]["ID"])
        subnet = c.get(f"switch/{switch_id}")["Switch"]["Subnets"][0]
        addresses = subnet.get("IPAddresses") or {}
        return {
            "sakuraId": str(router["ID"]),
            "switchId": switch_id,
            "networkAddress": subnet["NetworkAddress"],
            "gateway": subnet["DefaultRoute"],
            "firstUsable": addresses["Min"],
            "lastUsable": addresses["Max"],
        }

    def _wait_visible(self, c: SakuraClient, router_id: str) -> dict:
        found = c.wait_until(f"router {router_id} to answer", lambda: c.get_or_none(f"internet/{router_id}"), bool,
                             timeout=c.settings.not_found_grace)
        return found["Internet"]

    def create(self, props: dict) -> CreateResult:
        c = self.client(props)
        tags = self.tags_for(props)
        body = {"Internet": {"Name": props["name"], "Description": props.get("description", ""), "Tags": tags,
                             "NetworkMaskLen": int(props["prefixLength"]), "BandWidthMbps": int(props["bandwidthMbps"])}}
        router = self.adopt_or_create(c, tags, lambda: c.post("internet", body))
        router = self._wait_visible(c, str(router["ID"]))
        return CreateResult(str(router["ID"]), {**props, **self._network(c, router)})

    def read(self, id_: str, props: dict) -> ReadResult:
        c = self.client(props)
        router = self.live(c, props.get("sakuraId", id_))
        if router is None:
            return ReadResult("", {})
        return ReadResult(id_, {**props, "bandwidthMbps": router["BandWidthMbps"], **self._network(c, router)})


    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        c = self.client(news)
        router = self.live(c, olds["sakuraId"])
        keep = _previous_id_tags(router)
        router_id = str(router["ID"])
        if int(olds["bandwidthMbps"]) != int(news["bandwidthMbps"]):
            keep.append(PREVIOUS_ID_TAG + router_id)
            self.put_metadata(c, router_id, news, keep)
            new_id = self.change_with_new_id(c, router_id, f"internet/{router_id}/bandwidth",
                                             {"Internet": {"BandWidthMbps": int(news["bandwidthMbps"])}})
            router = self._wait_visible(c, new_id)
            router_id = str(router["ID"])
        self.put_metadata(c, router_id, news, keep)
        return UpdateResult({**news, **self._network(c, router)})

    def delete(self, id_: str, props: dict) -> None:
        c = self.client(props)
        router = self.live(c, props.get("sakuraId", id_))
        if router is None:
            return
        switch_id = str(router["Switch"]["ID"])
        c.wait_until(f"router switch {switch_id} unreferenced", lambda: c.get_or_none(f"switch/{switch_id}"),
                     lambda s: s is None or not s["Switch"].get("ServerCount"))
        c.delete_if_exists(f"internet/{router['ID']}")


# --------------------------------------------------------------------------- SSH key (global, no tags)


class SshKeyProvider(SakuraProvider):
    resource, envelope, list_key = "sshkey", "SSHKey", "SSHKeys"
    replace_keys = ("publicKey",)
    update_keys = ("name", "description")

    def create(self, props: dict) -> CreateResult:
        c = self.client({**props, "zone": GLOBAL_ZONE})
        public_key = props["publicKey"].strip()
        # SSH keys carry no tags: adopt one with the same name and key.
        existing = [k for k in c.find("sshkey", "SSHKeys", {"Name": props["name"]}) if k.get("PublicKey", "").strip() == public_key]
        if existing:
            key = existing[0]
        else:
            body = {"SSHKey": {"Name": props["name"], "Description": props.get("description", ""), "PublicKey": public_key}}
            try:
                key = c.post("sshkey", body)["SSHKey"]
            except AmbiguousRequest:
                key = c.wait_until("SSH key after an unclear create", lambda: [
                    k for k in c.find("sshkey", "SSHKeys", {"Name": props["name"]}) if k.get("PublicKey", "").strip() == public_key
                ], bool)[0]
        return CreateResult(str(key["ID"]), {**props, "sakuraId": str(key["ID"]), "fingerprint": key.get("Fingerprint", "")})

    def read(self, id_: str, props: dict) -> ReadResult:
        found = self.client({**props, "zone": GLOBAL_ZONE}).get_or_none(f"sshkey/{id_}")
        return ReadResult(id_, {**props, "name": found["SSHKey"]["Name"]}) if found else ReadResult("", {})


    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        c = self.client({**news, "zone": GLOBAL_ZONE})
        c.put(f"sshkey/{id_}", {"SSHKey": {"Name": news["name"], "Description": news.get("description", "")}})
        return UpdateResult({**news, "sakuraId": olds["sakuraId"], "fingerprint": olds.get("fingerprint", "")})

    def delete(self, id_: str, props: dict) -> None:
        self.client({**props, "zone": GLOBAL_ZONE}).delete_if_exists(f"sshkey/{id_}")


# --------------------------------------------------------------------------- archive upload


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ArchiveProvider(SakuraProvider):
    """A private archive uploaded from a local disk image (there is no public VyOS archive).

    The upload goes to the FTPS server the create answer names. The file name on that server and
    the close-then-wait sequence follow the official tools; both are UNCONFIRMED in the reference.
    """

    resource, envelope, list_key = "archive", "Archive", "Archives"
    replace_keys = ("zone", "sizeGb", "fileSha256")

    def check(self, olds: dict, news: dict) -> CheckResult:
        path = news.get("file")
        if isinstance(path, str) and not os.path.isfile(path):
            return CheckResult(news, [CheckFailure("file", f"image file {path} not found (relative to the project root)")])
        if isinstance(path, str):
            news = {**news, "fileSha256": file_sha256(path)}
        return CheckResult(news, [])

    def create(self, props: dict) -> CreateResult:
        c = self.client(props)
        tags = self.tags_for(props)
        archive, ftp = self.find_tagged(c, tags), None
        if archive is None:
            body = {"Archive": {"Name": props["name"], "Description": props.get("description", ""), "Tags": tags,
                                "SizeMB": int(props["sizeGb"]) * 1024}}
            try:
                answer = c.post("archive", body)
                archive, ftp = answer["Archive"], answer["FTPServer"]
            except AmbiguousRequest:
                archive = c.wait_until("archive after an unclear create", lambda: self.find_tagged(c, tags), bool)
        archive_id = str(archive["ID"])
        if archive.get("Availability") == "uploading":
            # New, or left half-uploaded by an earlier run: (re)open its FTP server and upload.
            ftp = ftp or c.put(f"archive/{archive_id}/ftp", {"ChangePassword": True})["FTPServer"]
            self._upload(ftp, props["file"])
            c.delete(f"archive/{archive_id}/ftp")
        archive = c.wait_until(f"archive {archive_id} available", lambda: c.get(f"archive/{archive_id}")["Archive"],
                               lambda a: a.get("Availability") == "available", _failed_availability)
        return CreateResult(archive_id, {**props, "sakuraId": archive_id})

    @staticmethod
    def _upload(server: dict, path: str) -> None:
        """FTPS with certificate verification; the API names no port, so 21 unless it does."""
        ftp = ftplib.FTP_TLS(context=ssl.create_default_context())
        ftp.connect(server["HostName"], int(server.get("Port", 21)), timeout=120)
        ftp.login(server["User"], server["Password"])
        ftp.prot_p()
        with open(path, "rb") as f:
            ftp.storbinary(f"STOR {os.path.basename(path)}", f)
        ftp.quit()

    def read(self, id_: str, props: dict) -> ReadResult:
        found = self.client(props).get_or_none(f"archive/{props.get('sakuraId', id_)}")
        return ReadResult(id_, props) if found else ReadResult("", {})

    def delete(self, id_: str, props: dict) -> None:
        self.client(props).delete_if_exists(f"archive/{props.get('sakuraId', id_)}")


def _failed_availability(obj: dict) -> Optional[str]:
    """Fail fast on `failed`; the official library would wait for the timeout instead."""
    if obj.get("Availability") == "failed":
        job = obj.get("JobStatus") or {}
        return f"{obj.get('Name', obj.get('ID'))} is in state 'failed'" + (f": {job.get('ConfigError')}" if job.get("ConfigError") else "")
    return None


# --------------------------------------------------------------------------- disk


class DiskProvider(SakuraProvider):
    """An SSD from a public archive (by OS tag), an archive ID, or blank; disk edit at creation."""

    resource, envelope, list_key = "disk", "Disk", "Disks"
    replace_keys = ("zone", "sizeGb", "planId", "connection", "source", "edit")
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

    def create(self, props: dict) -> CreateResult:
        c = self.client(props)
        tags = self.tags_for(props)
        source = props.get("source") or {}
        archive_id = self._archive_id(c, source)

        def post() -> dict:
            disk: dict[str, Any] = {"Name": props["name"], "Description": props.get("description", ""), "Tags": tags,
                                    "Plan": {"ID": int(props.get("planId", catalog.SSD_PLAN_ID))},
                                    "SizeMB": int(props["sizeGb"]) * 1024, "Connection": props.get("connection", "virtio")}
            if archive_id:
                disk["SourceArchive"] = {"ID": int(archive_id)}
            body: dict[str, Any] = {"Disk": disk, "BootAtAvailable": False}
            if props.get("edit"):
                body["Config"] = self.edit_body(props["edit"])
            return c.post("disk", body)

        disk = self.adopt_or_create(c, tags, post)
        disk_id = str(disk["ID"])
        try:
            disk = c.wait_until(f"disk {disk_id} ({props['name']}) available", lambda: c.get(f"disk/{disk_id}")["Disk"],
                                lambda d: d.get("Availability") == "available", _failed_availability)
        except SakuraApiError as e:
            if e.error_code == "failed_state":
                c.delete_if_exists(f"disk/{disk_id}")  # a failed copy is useless: leave no orphan behind
            raise
        return CreateResult(str(disk["ID"]), {**props, "sakuraId": str(disk["ID"]), "sourceArchiveId": archive_id or ""})

    def read(self, id_: str, props: dict) -> ReadResult:
        found = self.client(props).get_or_none(f"disk/{props.get('sakuraId', id_)}")
        return ReadResult(id_, {**props, "name": found["Disk"]["Name"]}) if found else ReadResult("", {})

    def delete(self, id_: str, props: dict) -> None:
        c = self.client(props)
        disk_id = props.get("sakuraId", id_)
        found = c.get_or_none(f"disk/{disk_id}")
        if found is None:
            return
        # The server that used it is deleted (or re-attached elsewhere) first; wait until it lets go.
        c.wait_until(f"disk {disk_id} detached", lambda: c.get_or_none(f"disk/{disk_id}"),
                     lambda d: d is None or not (d["Disk"].get("Server") or {}).get("ID"))
        c.delete_if_exists(f"disk/{disk_id}")


# --------------------------------------------------------------------------- server


class ServerProvider(SakuraProvider):
    """A VM with NICs in order, its disks attached in order, powered on and waited for."""

    resource, envelope, list_key = "server", "Server", "Servers"
    replace_keys = ("zone", "nics", "interfaceDriver")
    update_keys = ("name", "description", "tags", "hostName", "cpu", "memoryGb", "diskIds")

    def create(self, props: dict) -> CreateResult:
        c = self.client(props)
        tags = self.tags_for(props)
        body = {"Server": {
            "Name": props["name"], "Description": props.get("description", ""), "Tags": tags, "HostName": props.get("hostName", ""),
            "ServerPlan": self._plan(props), "InterfaceDriver": props.get("interfaceDriver", "virtio"),
            "ConnectedSwitches": [{"ID": int(s)} for s in props["nics"]], "WaitDiskMigration": False,
        }}
        server = self.adopt_or_create(c, tags, lambda: c.post("server", body))
        server_id = str(server["ID"])
        self._attach_disks(c, server_id, props.get("diskIds") or [])
        server = self._power_on(c, server_id)
        return CreateResult(server_id, {**props, **self._outputs(server)})

    @staticmethod
    def _plan(props: dict) -> dict:
        return {"CPU": int(props["cpu"]), "MemoryMB": int(props["memoryGb"]) * 1024, "Commitment": "standard", "Generation": 0}

    @staticmethod
    def _outputs(server: dict) -> dict:
        return {
            "sakuraId": str(server["ID"]),
            "macAddresses": [nic.get("MACAddress", "") for nic in server.get("Interfaces") or []],
            "instanceStatus": (server.get("Instance") or {}).get("Status", ""),
        }

    def _attach_disks(self, c: SakuraClient, server_id: str, disk_ids: list[str]) -> None:
        for disk_id in disk_ids:
            disk = c.get(f"disk/{disk_id}")["Disk"]
            attached = str((disk.get("Server") or {}).get("ID") or "")
            if attached == server_id:
                continue
            if attached:
                c.delete(f"disk/{disk_id}/to/server")
            c.put(f"disk/{disk_id}/to/server/{server_id}")

    def _power(self, c: SakuraClient, method: str, server_id: str, body: Optional[dict] = None) -> None:
        """Issue a power request; `still_creating` is retried, `conflict` means it is already so."""
        c.wait_until(f"server {server_id} to accept power {method}", lambda: self._try_power(c, method, server_id, body), bool)

    @staticmethod
    def _try_power(c: SakuraClient, method: str, server_id: str, body: Optional[dict]) -> bool:
        try:
            c.request(method, f"server/{server_id}/power", body)
        except SakuraApiError as e:
            if _is_still_creating(e):
                return False
            if e.status != 409:
                raise
        return True

    def _power_on(self, c: SakuraClient, server_id: str) -> dict:
        self._power(c, "PUT", server_id)
        return c.wait_until(f"server {server_id} up", lambda: c.get(f"server/{server_id}")["Server"],
                            lambda s: (s.get("Instance") or {}).get("Status") == "up" and s.get("Availability") == "available")

    def _power_off(self, c: SakuraClient, server_id: str) -> None:
        """An ACPI shutdown first, so the guest stops cleanly; forced only if it is still up after a while."""
        status = lambda: (c.get(f"server/{server_id}")["Server"].get("Instance") or {}).get("Status")  # noqa: E731
        if status() == "down":
            return
        self._power(c, "DELETE", server_id)
        try:
            c.wait_until(f"server {server_id} to shut down", status, lambda s: s == "down", timeout=c.settings.shutdown_timeout)
        except WaitTimeout:
            self._power(c, "DELETE", server_id, {"Force": True})
            c.wait_until(f"server {server_id} down", status, lambda s: s == "down")

    def read(self, id_: str, props: dict) -> ReadResult:
        server = self.live(self.client(props), props.get("sakuraId", id_))
        if server is None:
            return ReadResult("", {})
        plan = server.get("ServerPlan") or {}
        return ReadResult(id_, {**props, "cpu": plan.get("CPU", props.get("cpu")),
                                "memoryGb": (plan.get("MemoryMB") or int(props.get("memoryGb", 0)) * 1024) // 1024,
                                **self._outputs(server)})


    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        c = self.client(news)
        server = self.live(c, olds["sakuraId"])
        if server is None:
            raise SakuraApiError("GET", f"{c.endpoint}/server/{olds['sakuraId']}", 404, "not_found", "server is gone; run `pulumi refresh`")
        server_id = str(server["ID"])
        keep = _previous_id_tags(server)
        plan_changed = (int(olds["cpu"]), int(olds["memoryGb"])) != (int(news["cpu"]), int(news["memoryGb"]))
        disks_changed = list(olds.get("diskIds") or []) != list(news.get("diskIds") or [])
        if plan_changed or disks_changed:
            self._power_off(c, server_id)
        if disks_changed:
            # Everything off, then on in the planned order: the first disk is the one the VM boots from.
            for disk in server.get("Disks") or []:
                c.delete(f"disk/{disk['ID']}/to/server")
            self._attach_disks(c, server_id, news.get("diskIds") or [])
        if plan_changed:
            keep.append(PREVIOUS_ID_TAG + server_id)
            self.put_metadata(c, server_id, news, keep)
            server_id = self.change_with_new_id(c, server_id, f"server/{server_id}/plan", self._plan(news))
        self.put_metadata(c, server_id, news, keep)
        server = self._power_on(c, server_id)
        return UpdateResult({**news, **self._outputs(server)})

    def delete(self, id_: str, props: dict) -> None:
        c = self.client(props)
        server = self.live(c, props.get("sakuraId", id_))
        if server is None:
            return
        self._power_off(c, str(server["ID"]))
        c.delete_if_exists(f"server/{server['ID']}")


# --------------------------------------------------------------------------- resource classes
# Output attributes carry the state's camelCase names (`server.sakuraId`), as dynamic resources do.


@dataclass(frozen=True)
class Common:
    """Inputs every Sakura resource of a stack shares."""

    zone: str
    api_root_url: str
    tags: tuple[str, ...]

    def inputs(self, name: str, description: str) -> dict:
        return {"zone": self.zone, "apiRootUrl": self.api_root_url, "tags": list(self.tags), "name": name, "description": description}


class Switch(Resource, module="sakura", name="Switch"):
    sakuraId: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, sakura_name: str, description: str,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(SwitchProvider(), resource_name, {**common.inputs(sakura_name, description), "sakuraId": None}, opts)


class RouterSwitch(Resource, module="sakura", name="RouterSwitch"):
    sakuraId: pulumi.Output[str]
    switchId: pulumi.Output[str]
    networkAddress: pulumi.Output[str]
    gateway: pulumi.Output[str]
    firstUsable: pulumi.Output[str]
    lastUsable: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, sakura_name: str, description: str, prefix_length: int,
                 bandwidth_mbps: int, opts: Optional[pulumi.ResourceOptions] = None):
        props = {**common.inputs(sakura_name, description), "prefixLength": prefix_length, "bandwidthMbps": bandwidth_mbps,
                 "sakuraId": None, "switchId": None, "networkAddress": None, "gateway": None, "firstUsable": None, "lastUsable": None}
        super().__init__(RouterSwitchProvider(), resource_name, props, opts)


class SshKey(Resource, module="sakura", name="SshKey"):
    sakuraId: pulumi.Output[str]
    fingerprint: pulumi.Output[str]

    def __init__(self, resource_name: str, api_root_url: str, sakura_name: str, public_key: pulumi.Input[str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {"apiRootUrl": api_root_url, "name": sakura_name, "description": "managed by contest-k8s",
                 "publicKey": public_key, "sakuraId": None, "fingerprint": None}
        super().__init__(SshKeyProvider(), resource_name, props, opts)


class Archive(Resource, module="sakura", name="Archive"):
    sakuraId: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, sakura_name: str, file: str, size_gb: int,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {**common.inputs(sakura_name, "uploaded router image"), "file": file, "sizeGb": size_gb,
                 "fileSha256": None, "sakuraId": None}
        super().__init__(ArchiveProvider(), resource_name, props, opts)


@dataclass(frozen=True)
class DiskEdit:
    """Disk edit (ディスクの修正) applied when the disk is created: host name, keys, the login user's
    password (for sudo only: SSH password login is disabled), the first NIC's address."""

    host_name: str
    ssh_key_ids: tuple[pulumi.Input[str], ...]
    password: pulumi.Input[str]
    public_keys: tuple[str, ...] = ()
    ip_address: Optional[pulumi.Input[str]] = None
    prefix_length: Optional[pulumi.Input[int]] = None
    gateway: Optional[pulumi.Input[str]] = None

    def inputs(self) -> dict:
        return {"hostName": self.host_name, "sshKeyIds": list(self.ssh_key_ids), "password": self.password,
                "publicKeys": list(self.public_keys),
                "ipAddress": self.ip_address,
                "prefixLength": self.prefix_length, "gateway": self.gateway, "disablePasswordAuth": True}


class Disk(Resource, module="sakura", name="Disk"):
    sakuraId: pulumi.Output[str]
    sourceArchiveId: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, sakura_name: str, size_gb: int, source: dict,
                 edit: Optional[DiskEdit], opts: Optional[pulumi.ResourceOptions] = None):
        props = {**common.inputs(sakura_name, "managed by contest-k8s"), "sizeGb": size_gb, "planId": catalog.SSD_PLAN_ID,
                 "connection": "virtio", "source": source, "edit": edit.inputs() if edit else None,
                 "sakuraId": None, "sourceArchiveId": None}
        super().__init__(DiskProvider(), resource_name, props, opts)


@dataclass(frozen=True)
class ServerSpec:
    sakura_name: str
    host_name: str
    cpu: int
    memory_gb: int
    nics: tuple[pulumi.Input[str], ...]
    disk_ids: tuple[pulumi.Input[str], ...] = field(default=())


class Server(Resource, module="sakura", name="Server"):
    sakuraId: pulumi.Output[str]
    macAddresses: pulumi.Output[list]
    instanceStatus: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, spec: ServerSpec, opts: Optional[pulumi.ResourceOptions] = None):
        props = {**common.inputs(spec.sakura_name, "managed by contest-k8s"), "hostName": spec.host_name, "cpu": spec.cpu,
                 "memoryGb": spec.memory_gb, "interfaceDriver": "virtio", "nics": list(spec.nics), "diskIds": list(spec.disk_ids),
                 "sakuraId": None, "macAddresses": None, "instanceStatus": None}
        super().__init__(ServerProvider(), resource_name, props, opts)
