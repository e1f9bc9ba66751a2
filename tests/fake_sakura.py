"""A fake Sakura Cloud IaaS API on 127.0.0.1 for the provider tests.

It speaks the real wire format (../shared/reference/sakura-cloud-api.md): `{root}/{zone}/api/cloud/1.1/...`,
HTTP Basic, singular envelopes with `is_ok`, plural list keys (`Internet` for routers), raw-JSON find
queries, real-shaped error bodies. State is kept per zone. Asynchronous work is modelled by times:
a disk copy is `migrating` until its ready time, a power change passes through `down`/`cleaning`,
a new router answers 404 until it becomes visible.

`faults` switches on what the real API does on a bad day: 503 storms, 409 `still_creating` on a
create that took effect, a create whose answer never arrives (the client times out after the
effect), a router that 404s after creation, disks that end in `failed`, power requests refused
while the server is still being created. Every request is logged for call counts.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import ipaddress
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import unquote

from components import durations
from components.sakura import catalog

ROOT_PATH = "/cloud/zone"
PUBLIC_ARCHIVES = [
    ("Ubuntu Server 24.04.1 LTS 64bit", ["@size-extendable", "arch-64bit", "current-stable", "distro-ubuntu", "distro-ver-24.04.1",
                                          "os-linux", "ubuntu-24.04-latest"]),
    ("Ubuntu Server 22.04.5 LTS 64bit", ["@size-extendable", "arch-64bit", "distro-ubuntu", "distro-ver-22.04.5", "os-linux",
                                          "ubuntu-22.04-latest"]),
    ("Debian GNU/Linux 12.8 64bit", ["@size-extendable", "arch-64bit", "distro-debian", "debian-12-latest", "os-linux"]),
]


@dataclass
class Faults:
    storm_503: int = 0                                   # the next N requests answer 503 busy
    after_effect: dict[str, list[str]] = field(default_factory=dict)  # "POST server", "PUT server/*/plan" -> ["still_creating" | "timeout"]
    router_hidden_seconds: float = 0.0                   # GET /internet/{id} answers 404 this long after create
    disk_copy_fails: bool = False                        # disk copies end in `failed`
    power_still_creating: int = 0                        # the next N power-on requests answer 409 still_creating
    acpi_ignored: bool = False                           # guests ignore an ACPI shutdown; only a forced one works
    timeout_sleep: float = 1.0                           # how long a "timeout" fault holds the answer back


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict", 503: "Service Unavailable"}


class FakeSakura:
    def __init__(self, token: str = "fake-token", secret: str = "fake-secret", copy_seconds: float = 0.05,
                 power_seconds: float = 0.05, ftp_port: Optional[int] = None, time_scale: Optional[float] = None):
        """Asynchronous work takes `copy_seconds` and `power_seconds`; or, with `time_scale`, the real cloud's
        durations of components/durations.py divided by it (60: a minute of the cloud in a second)."""
        self.token, self.secret = token, secret
        self.copy_seconds, self.power_seconds = copy_seconds, power_seconds
        self.time_scale = time_scale
        self.ftp_port = ftp_port
        self.faults = Faults()
        self.log: list[tuple[str, str]] = []
        self.bodies: list[tuple[str, str, Optional[dict]]] = []
        self.lock = threading.RLock()
        self.state: dict[str, dict[str, dict[str, dict]]] = {}
        self._ids = itertools.count(113000000001)
        self._blocks = itertools.count(0)
        self._macs = itertools.count(1)
        self.uploads: dict[str, bytes] = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # -- lifecycle

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{ROOT_PATH}"

    def __enter__(self) -> "FakeSakura":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    # -- how long asynchronous work takes

    def _later(self, fixed: float, real_seconds: float) -> float:
        """The monotonic time at which work of `real_seconds` on the real cloud is done here."""
        return time.monotonic() + (real_seconds / self.time_scale if self.time_scale else fixed)

    # -- state helpers

    def zone(self, zone: str) -> dict[str, dict[str, dict]]:
        if zone not in catalog.ZONES:
            raise ApiError(404, "not_found", f"zone {zone} not found")
        if zone not in self.state:
            kinds = self.state[zone] = {k: {} for k in ("archive", "cdrom", "disk", "server", "switch", "internet", "sshkey", "packetfilter")}
            for name, tags in PUBLIC_ARCHIVES:
                archive_id = str(next(self._ids))
                kinds["archive"][archive_id] = {"ID": int(archive_id), "Name": name, "Tags": sorted(tags), "Scope": "shared",
                                                "Availability": "available", "SizeMB": 20480, "Plan": {"ID": 2}}
        return self.state[zone]

    def objects(self, zone: str, kind: str) -> dict[str, dict]:
        return self.zone(zone)[kind]

    def count(self, kind: str, zone: str = "is1b") -> int:
        with self.lock:
            return len(self.objects(zone, kind)) - (len(PUBLIC_ARCHIVES) if kind == "archive" else 0)

    def calls(self, method: Optional[str] = None) -> int:
        return sum(1 for m, _ in self.log if method is None or m == method)

    def find(self, zone: str, kind: str, object_id: str) -> dict:
        obj = self.objects(zone, kind).get(str(object_id))
        if obj is None:
            raise ApiError(404, "not_found", f"{kind} {object_id} was not found")
        return obj

    # -- request handling

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                status, payload, delay = fake.handle(self.command, self.path, self.headers, body)
                if delay:
                    time.sleep(delay)
                raw = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler

    def handle(self, method: str, raw_path: str, headers: Any, body: Optional[dict]) -> tuple[int, dict, float]:
        path, _, query = raw_path.partition("?")
        try:
            if not path.startswith(ROOT_PATH + "/"):
                raise ApiError(404, "not_found", "no such endpoint")
            zone, _, rest = path[len(ROOT_PATH) + 1:].partition("/api/cloud/1.1/")
            with self.lock:
                self.log.append((method, rest))
                self.bodies.append((method, rest, body))
                if not self._authorized(headers):
                    raise ApiError(401, "unauthorized", "認証に失敗しました (authentication failed)")
                if headers.get("X-Sakura-Bigint-As-Int") != "1" or headers.get("X-Requested-With") != "XMLHttpRequest":
                    raise ApiError(400, "bad_request", "missing X-Sakura-Bigint-As-Int / X-Requested-With headers")
                if self.faults.storm_503 > 0:
                    self.faults.storm_503 -= 1
                    raise ApiError(503, "busy", "the service is busy; retry later")
                condition = json.loads(unquote(query)) if query else {}
                answer = self.route(method, zone, rest.strip("/").split("/"), body or {}, condition)
                fault = next((kinds for pattern, kinds in self.faults.after_effect.items()
                              if kinds and fnmatch.fnmatchcase(f"{method} {rest.strip('/')}", pattern)), None)
                if fault:
                    kind = fault.pop(0)
                    if kind == "still_creating":
                        raise ApiError(409, "still_creating", "the resource is still being created")
                    return 202, {"is_ok": True, **answer}, self.faults.timeout_sleep
            return 200, {"is_ok": True, **answer}, 0.0
        except ApiError as e:
            reason = REASONS.get(e.status, "Error")
            return e.status, {"is_fatal": True, "serial": f"fake-{len(self.log)}", "status": f"{e.status} {reason}",
                              "error_code": e.code, "error_msg": e.message}, 0.0

    def _authorized(self, headers: Any) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.token}:{self.secret}".encode()).decode()
        return headers.get("Authorization") == expected

    # -- routing

    def route(self, method: str, zone: str, parts: list[str], body: dict, condition: dict) -> dict:
        kind = parts[0]
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            raise ApiError(404, "not_found", f"unknown resource {kind}")
        return handler(method, zone, parts[1:], body, condition)

    def _list(self, zone: str, kind: str, list_key: str, condition: dict) -> dict:
        items = [self._view(zone, kind, o) for o in self.objects(zone, kind).values()]
        for key, wanted in (condition.get("Filter") or {}).items():
            if key == "Tags.Name":
                items = [o for o in items if all(set(group) <= set(o.get("Tags") or []) for group in wanted)]
            elif key == "Scope":
                items = [o for o in items if o.get("Scope") in wanted]
            elif key == "Name":
                items = [o for o in items if all(word in o.get("Name", "") for word in str(wanted).split(" "))]
            else:
                raise ApiError(400, "bad_request", f"filter {key} not supported by the fake")
        items.sort(key=lambda o: o["ID"])
        start, count = int(condition.get("From", 0)), int(condition.get("Count", 1000))
        page = items[start:start + count]
        return {"Total": len(items), "From": start, "Count": len(page), list_key: page}

    def _view(self, zone: str, kind: str, obj: dict) -> dict:
        """Advance time-driven state, then return a copy without internal (`_`) keys."""
        now = time.monotonic()
        if kind in ("disk", "archive", "cdrom") and obj.get("Availability") in ("migrating", "uploading") and now >= obj.get("_ready_at", 0):
            if obj["Availability"] == "migrating":
                obj["Availability"] = "failed" if obj.get("_fails") else "available"
                obj["MigratedMB"] = obj.get("SizeMB", 0)
        if kind == "server":
            instance = obj["Instance"]
            if obj.get("_power_to") and now >= obj["_power_at"]:
                instance["Status"] = obj.pop("_power_to")
                obj.pop("_power_at")
        return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}

    def _new_id(self) -> int:
        return next(self._ids)

    def _tags(self, body: dict) -> list[str]:
        tags = body.get("Tags") or []
        if len(tags) > catalog.MAX_TAGS:
            raise ApiError(400, "bad_request", f"too many tags ({len(tags)})")
        return sorted(tags)

    # -- switch

    def _switch(self, method, zone, parts, body, condition):
        switches = self.objects(zone, "switch")
        if not parts:
            if method == "GET":
                return self._list(zone, "switch", "Switches", condition)
            spec = body["Switch"]
            switch_id = self._new_id()
            switches[str(switch_id)] = {"ID": switch_id, "Name": spec["Name"], "Description": spec.get("Description", ""),
                                        "Tags": self._tags(spec), "Scope": "user", "ServerCount": 0, "Subnets": []}
            return {"Success": True, "Switch": self._view(zone, "switch", switches[str(switch_id)])}
        switch = self.find(zone, "switch", parts[0])
        if method == "GET":
            return {"Success": True, "Switch": self._view(zone, "switch", switch)}
        if method == "PUT":
            spec = body["Switch"]
            switch.update(Name=spec["Name"], Description=spec.get("Description", ""), Tags=self._tags(spec))
            return {"Success": True, "Switch": self._view(zone, "switch", switch)}
        if method == "DELETE":
            if switch["ServerCount"]:
                raise ApiError(409, "conflict", "switch is connected to servers")
            if switch.get("_router"):
                raise ApiError(409, "conflict", "delete the router instead")
            del switches[parts[0]]
            return {"Success": True}
        raise ApiError(405, "method_not_allowed", method)

    # -- router+switch

    def _internet(self, method, zone, parts, body, condition):
        routers = self.objects(zone, "internet")
        if not parts:
            if method == "GET":
                return self._list(zone, "internet", "Internet", condition)
            spec = body["Internet"]
            prefix = int(spec["NetworkMaskLen"])
            if prefix not in catalog.ROUTER_PREFIX_LENGTHS or int(spec["BandWidthMbps"]) not in catalog.ROUTER_BANDWIDTHS_MBPS:
                raise ApiError(400, "bad_request", "invalid NetworkMaskLen or BandWidthMbps")
            block = ipaddress.IPv4Network(f"{ipaddress.IPv4Address('192.0.2.0') + next(self._blocks) * 256}/{prefix}")
            switch_id = self._new_id()
            base = block.network_address
            self.objects(zone, "switch")[str(switch_id)] = {
                "ID": switch_id, "Name": spec["Name"], "Description": "", "Tags": [], "Scope": "user", "ServerCount": 0, "_router": True,
                "Subnets": [{"ID": self._new_id(), "NetworkAddress": str(base), "NetworkMaskLen": prefix, "DefaultRoute": str(base + 1),
                             "NextHop": None, "StaticRoute": None,
                             "IPAddresses": {"Min": str(base + catalog.FIRST_USABLE_OFFSET), "Max": str(block.broadcast_address - 1)}}],
            }
            router_id = self._new_id()
            routers[str(router_id)] = {"ID": router_id, "Name": spec["Name"], "Description": spec.get("Description", ""),
                                       "Tags": self._tags(spec), "NetworkMaskLen": prefix, "BandWidthMbps": int(spec["BandWidthMbps"]),
                                       "Switch": {"ID": switch_id, "Name": spec["Name"]},
                                       "_visible_at": self._later(self.faults.router_hidden_seconds, durations.ROUTER_VISIBLE)}
            return {"Success": True, "Internet": self._view(zone, "internet", routers[str(router_id)])}
        router = self.find(zone, "internet", parts[0])
        if method == "GET":
            if time.monotonic() < router["_visible_at"]:
                raise ApiError(404, "not_found", f"internet {parts[0]} was not found")
            return {"Success": True, "Internet": self._view(zone, "internet", router)}
        if method == "PUT" and parts[1:] == ["bandwidth"]:
            new_id = self._new_id()
            router = routers.pop(parts[0])
            router.update(ID=new_id, BandWidthMbps=int(body["Internet"]["BandWidthMbps"]))
            routers[str(new_id)] = router
            return {"Success": True, "Internet": self._view(zone, "internet", router)}
        if method == "PUT":
            spec = body["Internet"]
            router.update(Name=spec["Name"], Description=spec.get("Description", ""), Tags=self._tags(spec))
            return {"Success": True, "Internet": self._view(zone, "internet", router)}
        if method == "DELETE":
            switch = self.find(zone, "switch", router["Switch"]["ID"])
            if switch["ServerCount"]:
                raise ApiError(409, "conflict", "the router's switch is connected to servers")
            del self.objects(zone, "switch")[str(switch["ID"])]
            del routers[parts[0]]
            return {"Success": True}
        raise ApiError(405, "method_not_allowed", method)

    # -- archives

    def _archive(self, method, zone, parts, body, condition):
        archives = self.objects(zone, "archive")
        if not parts:
            if method == "GET":
                return self._list(zone, "archive", "Archives", condition)
            spec = body["Archive"]
            if int(spec["SizeMB"]) // 1024 not in catalog.ARCHIVE_SIZES_GB:
                raise ApiError(400, "bad_request", "invalid SizeMB for an archive")
            archive_id = self._new_id()
            archives[str(archive_id)] = {"ID": archive_id, "Name": spec["Name"], "Tags": self._tags(spec), "Scope": "user",
                                         "Availability": "uploading", "SizeMB": int(spec["SizeMB"]), "_ftp_open": True}
            ftp = {"HostName": "127.0.0.1", "IPAddress": "127.0.0.1", "User": f"archive{archive_id}", "Password": "fake-ftp-password"}
            if self.ftp_port:
                ftp["Port"] = self.ftp_port
            return {"Success": True, "Archive": self._view(zone, "archive", archives[str(archive_id)]), "FTPServer": ftp}
        archive = self.find(zone, "archive", parts[0])
        if method == "GET":
            return {"Success": True, "Archive": self._view(zone, "archive", archive)}
        if method == "PUT" and parts[1:] == ["ftp"]:
            if archive["Availability"] != "uploading":
                raise ApiError(409, "conflict", "the archive is not waiting for an upload")
            archive["_ftp_open"] = True
            ftp = {"HostName": "127.0.0.1", "IPAddress": "127.0.0.1", "User": f"archive{archive['ID']}", "Password": "fake-ftp-password-2"}
            if self.ftp_port:
                ftp["Port"] = self.ftp_port
            return {"Success": True, "FTPServer": ftp}
        if method == "DELETE" and parts[1:] == ["ftp"]:
            archive["_ftp_open"] = False
            archive["Availability"] = "migrating"
            archive["_ready_at"] = time.monotonic() + self.copy_seconds
            return {"Success": True}
        if method == "PUT":
            spec = body["Archive"]
            archive.update(Name=spec["Name"], Tags=self._tags(spec))
            return {"Success": True, "Archive": self._view(zone, "archive", archive)}
        if method == "DELETE":
            if archive["Scope"] == "shared":
                raise ApiError(403, "forbidden", "public archives cannot be deleted")
            del archives[parts[0]]
            return {"Success": True}
        raise ApiError(405, "method_not_allowed", method)

    # -- ISO images (`/cdrom`): uploaded like archives, inserted into servers

    def _cdrom(self, method, zone, parts, body, condition):
        cdroms = self.objects(zone, "cdrom")
        if not parts:
            if method == "GET":
                return self._list(zone, "cdrom", "CDROMs", condition)
            spec = body["CDROM"]
            if int(spec["SizeMB"]) not in (5120, 10240, 20480):
                raise ApiError(400, "bad_request", "invalid SizeMB for an ISO image (5, 10 or 20 GB)")
            cdrom_id = self._new_id()
            cdroms[str(cdrom_id)] = {"ID": cdrom_id, "Name": spec["Name"], "Description": spec.get("Description", ""),
                                     "Tags": self._tags(spec), "Scope": "user", "Availability": "uploading", "SizeMB": int(spec["SizeMB"])}
            return {"Success": True, "CDROM": self._view(zone, "cdrom", cdroms[str(cdrom_id)]), "FTPServer": self._ftp(f"cdrom{cdrom_id}")}
        cdrom = self.find(zone, "cdrom", parts[0])
        if method == "GET":
            return {"Success": True, "CDROM": self._view(zone, "cdrom", cdrom)}
        if method == "PUT" and parts[1:] == ["ftp"]:
            if cdrom["Availability"] != "uploading":
                raise ApiError(409, "conflict", "the ISO image is not waiting for an upload")
            return {"Success": True, "FTPServer": self._ftp(f"cdrom{cdrom['ID']}")}
        if method == "DELETE" and parts[1:] == ["ftp"]:
            cdrom["Availability"], cdrom["_ready_at"] = "migrating", self._later(self.copy_seconds, durations.ISO_UPLOAD)
            return {"Success": True}
        if method == "DELETE":
            if any((s["Instance"].get("CDROM") or {}).get("ID") == cdrom["ID"] for s in self.objects(zone, "server").values()):
                raise ApiError(409, "conflict", "the ISO image is inserted in a server")
            del cdroms[parts[0]]
            return {"Success": True}
        raise ApiError(405, "method_not_allowed", method)

    def _ftp(self, user: str) -> dict:
        ftp = {"HostName": "127.0.0.1", "IPAddress": "127.0.0.1", "User": user, "Password": "fake-ftp-password"}
        if self.ftp_port:
            ftp["Port"] = self.ftp_port
        return ftp

    # -- packet filters (no tags) and their NICs

    def _packetfilter(self, method, zone, parts, body, condition):
        filters = self.objects(zone, "packetfilter")
        if not parts:
            if method == "GET":
                return self._list(zone, "packetfilter", "PacketFilters", condition)
            spec = body["PacketFilter"]
            filter_id = self._new_id()
            filters[str(filter_id)] = {"ID": filter_id, "Name": spec["Name"], "Description": spec.get("Description", ""),
                                       "Expression": self._expression(spec)}
            return {"Success": True, "PacketFilter": self._view(zone, "packetfilter", filters[str(filter_id)])}
        found = self.find(zone, "packetfilter", parts[0])
        if method == "GET":
            return {"Success": True, "PacketFilter": self._view(zone, "packetfilter", found)}
        if method == "PUT":
            spec = body["PacketFilter"]
            found.update(Name=spec["Name"], Description=spec.get("Description", ""), Expression=self._expression(spec))
            return {"Success": True, "PacketFilter": self._view(zone, "packetfilter", found)}
        if method == "DELETE":
            if any((nic.get("PacketFilter") or {}).get("ID") == found["ID"] for s in self.objects(zone, "server").values()
                   for nic in s["Interfaces"]):
                raise ApiError(409, "conflict", "the packet filter is connected to an interface")
            del filters[parts[0]]
            return {"Success": True}
        raise ApiError(405, "method_not_allowed", method)

    @staticmethod
    def _expression(spec: dict) -> list[dict]:
        expression = spec.get("Expression") or []
        if len(expression) > 30:
            raise ApiError(400, "bad_request", f"{len(expression)} rules: a packet filter takes at most 30")
        for rule in expression:
            if rule.get("Protocol") not in ("http", "https", "tcp", "udp", "icmp", "fragment", "ip") or \
                    rule.get("Action") not in ("allow", "deny"):
                raise ApiError(400, "bad_request", f"invalid packet filter rule {rule}")
        return [dict(rule) for rule in expression]

    def _interface(self, method, zone, parts, body, condition):
        nic = next((n for s in self.objects(zone, "server").values() for n in s["Interfaces"] if str(n["ID"]) == parts[0]), None)
        if nic is None:
            raise ApiError(404, "not_found", f"interface {parts[0]} was not found")
        if parts[1:3] == ["to", "packetfilter"]:
            if method == "PUT":
                found = self.find(zone, "packetfilter", parts[3])
                nic["PacketFilter"] = {"ID": found["ID"], "Name": found["Name"]}
            else:
                nic["PacketFilter"] = None
            return {"Success": True}
        raise ApiError(405, "method_not_allowed", method)

    # -- disks

    def _disk(self, method, zone, parts, body, condition):
        disks = self.objects(zone, "disk")
        if not parts:
            if method == "GET":
                return self._list(zone, "disk", "Disks", condition)
            spec = body["Disk"]
            size_gb = int(spec["SizeMB"]) // 1024
            if int(spec["Plan"]["ID"]) != catalog.SSD_PLAN_ID or size_gb not in catalog.DISK_SIZES_GB:
                raise ApiError(400, "bad_request", "Disk.Plan.ID must be 2 (Standard Plan), 4 (SSD Plan) with a size the plan offers")
            source = spec.get("SourceArchive")
            if source is not None:
                archive = self.find(zone, "archive", source["ID"])
                if archive["Availability"] != "available":
                    raise ApiError(409, "conflict", "source archive is not available")
            disk_id = self._new_id()
            disks[str(disk_id)] = {"ID": disk_id, "Name": spec["Name"], "Description": spec.get("Description", ""),
                                   "Tags": self._tags(spec), "Plan": {"ID": int(spec["Plan"]["ID"])}, "SizeMB": int(spec["SizeMB"]),
                                   "MigratedMB": 0, "Connection": spec.get("Connection", "virtio"), "Availability": "migrating",
                                   "SourceArchive": {"ID": source["ID"]} if source else None, "Server": None,
                                   "_ready_at": self._later(self.copy_seconds, durations.disk_seconds(size_gb, source is not None)),
                                   "_fails": self.faults.disk_copy_fails, "_edit": body.get("Config")}
            return {"Success": True, "Disk": self._view(zone, "disk", disks[str(disk_id)])}
        disk = self.find(zone, "disk", parts[0])
        if method == "GET":
            return {"Success": True, "Disk": self._view(zone, "disk", disk)}
        if parts[1:2] == ["to"]:
            server = self.find(zone, "server", parts[3]) if method == "PUT" else self.find(zone, "server", (disk["Server"] or {}).get("ID"))
            self._view(zone, "server", server)
            if server["Instance"]["Status"] != "down":
                raise ApiError(409, "conflict", "the server must be stopped to connect or disconnect a disk")
            if method == "PUT":
                if disk["Server"]:
                    raise ApiError(409, "conflict", "disk is already connected")
                disk["Server"] = {"ID": server["ID"], "Name": server["Name"]}
                server["Disks"].append({"ID": disk["ID"]})
            else:
                server["Disks"] = [d for d in server["Disks"] if d["ID"] != disk["ID"]]
                disk["Server"] = None
            return {"Success": True}
        if parts[1:] == ["config"] and method == "PUT":
            self._view(zone, "disk", disk)
            if disk["Availability"] != "available":
                raise ApiError(409, "conflict", f"disk is {disk['Availability']}")
            attached = self.objects(zone, "server").get(str((disk["Server"] or {}).get("ID")))
            if attached and attached["Instance"]["Status"] != "down":
                raise ApiError(409, "conflict", "the server must be stopped to edit its disk")
            disk.update(Availability="migrating", _edit={k: v for k, v in body.items() if k != "Background"},
                        _ready_at=self._later(self.copy_seconds, durations.DISK_EDIT))
            return {"Success": True}
        if method == "PUT":
            spec = body["Disk"]
            disk.update(Name=spec["Name"], Description=spec.get("Description", ""), Tags=self._tags(spec))
            return {"Success": True, "Disk": self._view(zone, "disk", disk)}
        if method == "DELETE":
            if disk["Server"]:
                raise ApiError(409, "conflict", "disk is connected to a server")
            del disks[parts[0]]
            return {"Success": True}
        raise ApiError(405, "method_not_allowed", method)

    # -- servers

    def _server(self, method, zone, parts, body, condition):
        servers = self.objects(zone, "server")
        if not parts:
            if method == "GET":
                return self._list(zone, "server", "Servers", condition)
            spec = body["Server"]
            plan = spec["ServerPlan"]
            if int(plan["CPU"]) not in catalog.CPU_COUNTS or int(plan["MemoryMB"]) // 1024 not in catalog.MEMORY_SIZES_GB:
                raise ApiError(400, "bad_request", f"no server plan with CPU {plan['CPU']} and MemoryMB {plan['MemoryMB']}")
            interfaces = []
            for connected in spec.get("ConnectedSwitches") or []:
                switch = self.find(zone, "switch", connected["ID"])
                switch["ServerCount"] += 1
                interfaces.append({"ID": self._new_id(), "MACAddress": f"9c:a3:ba:00:00:{next(self._macs):02x}",
                                   "Switch": {"ID": switch["ID"], "Scope": "user"}, "UserIPAddress": None, "PacketFilter": None})
            server_id = self._new_id()
            servers[str(server_id)] = {"ID": server_id, "Name": spec["Name"], "Description": spec.get("Description", ""),
                                       "Tags": self._tags(spec), "HostName": spec.get("HostName", ""), "Availability": "available",
                                       "ServerPlan": {"CPU": int(plan["CPU"]), "MemoryMB": int(plan["MemoryMB"]), "Commitment": "standard"},
                                       "InterfaceDriver": spec.get("InterfaceDriver", "virtio"), "Interfaces": interfaces,
                                       "Disks": [], "Instance": {"Status": "down"}}
            return {"Success": True, "Server": self._view(zone, "server", servers[str(server_id)])}
        server = self.find(zone, "server", parts[0])
        self._view(zone, "server", server)
        status = server["Instance"]["Status"]
        if method == "GET":
            return {"Success": True, "Server": self._view(zone, "server", server)}
        if parts[1:] == ["power"]:
            if method == "PUT" and self.faults.power_still_creating > 0:
                self.faults.power_still_creating -= 1
                raise ApiError(409, "still_creating", "the server is still being created")
            wanted = "up" if method == "PUT" else "down"
            if status == wanted or server.get("_power_to") == wanted:
                raise ApiError(409, "conflict", f"the server is already {wanted}")
            if wanted == "down" and self.faults.acpi_ignored and not body.get("Force"):
                return {"Success": True}  # accepted, and the guest does nothing
            if wanted == "up" and "_first_boot" not in server:  # what each disk was when the VM first booted from it
                disks = self.objects(zone, "disk")
                server["_first_boot"] = [{"ID": d["ID"], "edited": bool(disks[str(d["ID"])].get("_edit")),
                                          "Availability": self._view(zone, "disk", disks[str(d["ID"])])["Availability"]}
                                         for d in server["Disks"]]
            real = durations.SERVER_BOOT if wanted == "up" else durations.SERVER_SHUTDOWN
            server["_power_to"], server["_power_at"] = wanted, self._later(self.power_seconds, real)
            server["Instance"]["Status"] = "cleaning" if wanted == "down" else "down"
            return {"Success": True}
        if parts[1:] == ["cdrom"]:
            if method == "PUT":
                cdrom = self.find(zone, "cdrom", body["CDROM"]["ID"])
                if cdrom["Availability"] != "available":
                    raise ApiError(409, "conflict", "the ISO image is not available")
                server["Instance"]["CDROM"] = {"ID": cdrom["ID"]}
            else:
                server["Instance"]["CDROM"] = None
            return {"Success": True}
        if parts[1:] == ["plan"]:
            if status != "down":
                raise ApiError(409, "conflict", "the server must be stopped to change its plan")
            new_id = self._new_id()
            servers.pop(parts[0])
            server.update(ID=new_id, ServerPlan={"CPU": int(body["CPU"]), "MemoryMB": int(body["MemoryMB"]), "Commitment": "standard"})
            servers[str(new_id)] = server
            for disk in self.objects(zone, "disk").values():
                if disk["Server"] and str(disk["Server"]["ID"]) == parts[0]:
                    disk["Server"]["ID"] = new_id
            return {"Success": True, "Server": self._view(zone, "server", server)}
        if method == "PUT":
            spec = body["Server"]
            server.update(Name=spec["Name"], Description=spec.get("Description", ""), Tags=self._tags(spec))
            return {"Success": True, "Server": self._view(zone, "server", server)}
        if method == "DELETE":
            if status != "down":
                raise ApiError(409, "conflict", "the server must be stopped to be deleted")
            for nic in server["Interfaces"]:
                self.find(zone, "switch", nic["Switch"]["ID"])["ServerCount"] -= 1
            for disk in self.objects(zone, "disk").values():
                if disk["Server"] and disk["Server"]["ID"] == server["ID"]:
                    disk["Server"] = None
            del servers[parts[0]]
            return {"Success": True}
        raise ApiError(405, "method_not_allowed", method)

    # -- SSH keys (global: only through is1a)

    def _sshkey(self, method, zone, parts, body, condition):
        if zone != "is1a":
            raise ApiError(404, "not_found", "SSH keys are global: call them through is1a")
        keys = self.objects(zone, "sshkey")
        if not parts:
            if method == "GET":
                return self._list(zone, "sshkey", "SSHKeys", condition)
            spec = body["SSHKey"]
            key_id = self._new_id()
            keys[str(key_id)] = {"ID": key_id, "Name": spec["Name"], "Description": spec.get("Description", ""),
                                 "PublicKey": spec["PublicKey"], "Fingerprint": "fake:" + str(key_id)}
            return {"Success": True, "SSHKey": self._view(zone, "sshkey", keys[str(key_id)])}
        key = self.find(zone, "sshkey", parts[0])
        if method == "GET":
            return {"Success": True, "SSHKey": self._view(zone, "sshkey", key)}
        if method == "PUT":
            key.update(Name=body["SSHKey"]["Name"], Description=body["SSHKey"].get("Description", ""))
            return {"Success": True, "SSHKey": self._view(zone, "sshkey", key)}
        if method == "DELETE":
            del keys[parts[0]]
            return {"Success": True}
        raise ApiError(405, "method_not_allowed", method)
