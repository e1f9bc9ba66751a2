"""A VM: NICs in order, its disks attached in order, powered on and waited for.

The size (CPU, memory) is what the VM is made with: a later size change is not an update of the
server but of its `ServerSize` (server_size.py), so the layers can put a drain before it and a
readiness gate after it without chaining the servers themselves (which would also chain their
creation on day one). A plan change gives the server a new ID on Sakura's side; its Pulumi ID stays
the first one, so nothing keyed on it changes, and that first ID always stays reachable through the
`@previous-id` tags (see server_size.py). The host name is set by disk edit at creation and sent
once; an in-place update never powers on a VM that an operator had stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi

from .client import SakuraApiError, SakuraClient, WaitTimeout
from .provider import PACKAGE, Common, SakuraResourceType, is_still_creating


class ServerType(SakuraResourceType):
    token = f"{PACKAGE}:sakura:Server"
    resource, envelope, list_key = "server", "Server", "Servers"
    replace_keys = ("zone", "nics", "interfaceDriver")
    update_keys = ("name", "description", "tags", "diskIds", "packetFilterIds")
    # cpu/memoryGb: the size the VM was made with; ServerSize changes it later (after a drain, before a gate).
    create_only_keys = ("hostName", "cdromId", "cpu", "memoryGb")
    computed_keys = ("sakuraId", "macAddresses", "instanceStatus")

    def create(self, news: dict) -> tuple[str, dict]:
        c = self.client(news)
        tags = self.tags_for(news)
        body = {"Server": {
            "Name": news["name"], "Description": news.get("description", ""), "Tags": tags, "HostName": news.get("hostName", ""),
            "ServerPlan": self._plan(news), "InterfaceDriver": news.get("interfaceDriver", "virtio"),
            "ConnectedSwitches": [{"ID": int(s)} for s in news["nics"]], "WaitDiskMigration": False,
        }}
        server = self.adopt_or_create(c, tags, lambda: c.post("server", body))
        server_id = str(server["ID"])
        self._attach_disks(c, server_id, news.get("diskIds") or [])
        if news.get("cdromId"):  # a seed for the first boot, inserted before it
            c.put(f"server/{server_id}/cdrom", {"CDROM": {"ID": int(news["cdromId"])}})
        self._filter_nics(c, c.get(f"server/{server_id}")["Server"], news.get("packetFilterIds") or [])
        server = self._power_on(c, server_id)
        return server_id, {**news, **self._outputs(server)}

    @staticmethod
    def _filter_nics(c: SakuraClient, server: dict, filter_ids: list[str]) -> None:
        """Attach to each NIC the packet filter planned for it ("" for none), changing only what differs."""
        for nic, wanted in zip(server.get("Interfaces") or [], filter_ids):
            current = str((nic.get("PacketFilter") or {}).get("ID") or "")
            if current == (wanted or ""):
                continue
            if wanted:
                c.put(f"interface/{nic['ID']}/to/packetfilter/{wanted}")
            else:
                c.delete(f"interface/{nic['ID']}/to/packetfilter")

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

    def live_server(self, c: SakuraClient, id_: str, state: dict) -> Optional[dict]:
        """The VM, from the live ID this state last saw, else from its Pulumi ID (the first ID), which every
        plan change keeps tagged as `@previous-id` (a ServerSize may have changed the ID since)."""
        return self.live(c, state.get("sakuraId") or id_) or (self.live(c, id_) if id_ and id_ != state.get("sakuraId") else None)

    def _power(self, c: SakuraClient, method: str, server_id: str, body: Optional[dict] = None) -> None:
        """Issue a power request; `still_creating` is retried, `conflict` means it is already so."""
        c.wait_until(f"server {server_id} to accept power {method}", lambda: self._try_power(c, method, server_id, body), bool)

    @staticmethod
    def _try_power(c: SakuraClient, method: str, server_id: str, body: Optional[dict]) -> bool:
        try:
            c.request(method, f"server/{server_id}/power", body)
        except SakuraApiError as e:
            if is_still_creating(e):
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

    def read(self, id_: str, state: dict) -> Optional[dict]:
        server = self.live_server(self.client(state), id_, state)
        if server is None:
            return None
        plan = server.get("ServerPlan") or {}
        return {**state, "cpu": plan.get("CPU", state.get("cpu")),
                "memoryGb": (plan.get("MemoryMB") or int(state.get("memoryGb", 0)) * 1024) // 1024,
                "diskIds": [str(d["ID"]) for d in server.get("Disks") or []],
                "packetFilterIds": [str((nic.get("PacketFilter") or {}).get("ID") or "") for nic in server.get("Interfaces") or []],
                **self._outputs(server)}

    def update(self, id_: str, state: dict, news: dict) -> dict:
        c = self.client(news)
        self.tags_for(news)  # too many tags fails here, before the VM is touched
        server = self.live_server(c, id_, state)
        if server is None:
            raise self.gone(c, state.get("sakuraId") or id_)
        server_id = str(server["ID"])
        was_up = (server.get("Instance") or {}).get("Status") == "up"
        keep = self.keep_previous_ids(server)  # as the last plan change left them (see server_size.py)
        disks_changed = list(state.get("diskIds") or []) != list(news.get("diskIds") or [])
        if disks_changed:
            # Everything off, then on in the planned order: the first disk is the one the VM boots from.
            self._power_off(c, server_id)
            for disk in server.get("Disks") or []:
                c.delete(f"disk/{disk['ID']}/to/server")
            self._attach_disks(c, server_id, news.get("diskIds") or [])
        self.put_metadata(c, server_id, news, keep)
        if list(state.get("packetFilterIds") or []) != list(news.get("packetFilterIds") or []):
            self._filter_nics(c, c.get(f"server/{server_id}")["Server"], news.get("packetFilterIds") or [])
        if was_up and disks_changed:
            server = self._power_on(c, server_id)
        else:
            server = c.get(f"server/{server_id}")["Server"]
        return {**news, **self.kept(state), **self._outputs(server)}

    def delete(self, id_: str, state: dict) -> None:
        c = self.client(state)
        server = self.live_server(c, id_, state)
        if server is None:
            return
        self._power_off(c, str(server["ID"]))
        c.delete_if_exists(f"server/{server['ID']}")


@dataclass(frozen=True)
class ServerSpec:
    sakura_name: str
    host_name: str
    cpu: int
    memory_gb: int
    nics: tuple[pulumi.Input[str], ...]
    disk_ids: tuple[pulumi.Input[str], ...] = field(default=())
    packet_filter_ids: tuple[pulumi.Input[str], ...] = field(default=())  # per NIC, "" for none
    cdrom_id: Optional[pulumi.Input[str]] = None  # an ISO inserted before the first boot


class Server(pulumi.CustomResource):
    sakuraId: pulumi.Output[str]
    macAddresses: pulumi.Output[list]
    instanceStatus: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, spec: ServerSpec, opts: Optional[pulumi.ResourceOptions] = None):
        props = {**common.inputs(spec.sakura_name, "managed by contest-k8s"), "hostName": spec.host_name, "cpu": spec.cpu,
                 "memoryGb": spec.memory_gb, "interfaceDriver": "virtio", "nics": list(spec.nics), "diskIds": list(spec.disk_ids),
                 "packetFilterIds": list(spec.packet_filter_ids), "cdromId": spec.cdrom_id,
                 "sakuraId": None, "macAddresses": None, "instanceStatus": None}
        super().__init__(ServerType.token, resource_name, props, common.options(opts))
