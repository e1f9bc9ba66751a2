"""Disk edit (ディスクの修正) of a copied boot disk: host name, keys, password, the first NIC's address.

A resource of its own, apart from the Disk, so a disk's copy does not wait for what only its edit
needs: the copy starts as soon as the stack starts, the edit once the router's global block (which
the address and gateway come from) exists. The disk is edited while it is unattached and has never
booted (`PUT /disk/{id}/config`, what Sakura guarantees for the first copy of a public archive),
and its Server waits for this edit. A lost answer to the edit is sent again once the disk is
available: on a disk that never booted the same edit twice is the same edit.

Disks made before this resource existed were edited by their own create; for those (`madeWithEdit`)
the create records that and sends nothing. Nor is a disk attached to a VM edited: its VM is made only
after its edit, so the edit was done by a run whose state was lost, and a disk in use is never edited
under its VM. Parameters are create-only: a later change (an operator key added to the stack file)
never edits a disk again; the keys on the running node are kept in step by a command instead.
Deleting it changes nothing: the disk is the Disk's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from .client import AmbiguousRequest, SakuraApiError, SakuraClient
from .provider import PACKAGE, SakuraResourceType, failed_availability


class DiskEditType(SakuraResourceType):
    token = f"{PACKAGE}:sakura:DiskEdit"
    resource, envelope, list_key = "disk", "Disk", "Disks"
    replace_keys = ("zone", "diskId")  # a new disk gets its own edit
    update_keys = ()
    create_only_keys = ("parameters", "madeWithEdit")
    computed_keys = ("applied",)

    @staticmethod
    def body(parameters: dict) -> dict:
        body: dict[str, Any] = {
            "Background": True,
            "HostName": parameters["hostName"],
            "SSHKeys": [{"ID": int(k)} for k in parameters.get("sshKeyIds") or []]
            + [{"PublicKey": k} for k in parameters.get("publicKeys") or []],
            "Password": parameters["password"],
            "DisablePWAuth": bool(parameters.get("disablePasswordAuth", True)),
            "EnableDHCP": False,
            "ChangePartitionUUID": True,
        }
        if parameters.get("ipAddress"):
            body["UserIPAddress"] = parameters["ipAddress"]
            body["UserSubnet"] = {"DefaultRoute": parameters.get("gateway") or "", "NetworkMaskLen": int(parameters["prefixLength"])}
        return body

    def create(self, news: dict) -> tuple[str, dict]:
        disk_id = str(news["diskId"])
        applied = not news.get("madeWithEdit") and self._edit(self.client(news), disk_id, news["parameters"])
        return f"{disk_id}-edit", {**news, "applied": applied}

    def _edit(self, c: SakuraClient, disk_id: str, parameters: dict) -> bool:
        """Edit the disk unless a VM uses it already; whether this call edited it."""
        disk = self._available(c, disk_id)
        if (disk.get("Server") or {}).get("ID"):  # its VM exists, which is only made after this edit: a re-run after a lost state
            return False
        path, body = f"disk/{disk_id}/config", self.body(parameters)
        try:
            c.request("PUT", path, body, repeatable=False)
        except AmbiguousRequest:
            self._available(c, disk_id)
            try:
                c.put(path, body)
            except SakuraApiError as e:
                if e.status != 409:  # 409: the first edit had not started yet when the disk was seen available; it runs now
                    raise
        self._available(c, disk_id)
        return True

    @staticmethod
    def _available(c: SakuraClient, disk_id: str) -> dict:
        return c.wait_until(f"disk {disk_id} available for its edit", lambda: c.get(f"disk/{disk_id}")["Disk"],
                            lambda d: d.get("Availability") == "available", failed_availability)

    def read(self, id_: str, state: dict) -> Optional[dict]:
        return state if self.client(state).get_or_none(f"disk/{state['diskId']}") else None

    def delete(self, id_: str, state: dict) -> None:
        return None  # the disk is the Disk's


@dataclass(frozen=True)
class DiskEditParameters:
    """What disk edit writes: host name, keys, the login user's password (for sudo only: SSH password
    login is disabled), the first NIC's address."""

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


class DiskEdit(pulumi.CustomResource):
    applied: pulumi.Output[bool]

    def __init__(self, resource_name: str, zone: str, disk: "pulumi.CustomResource", parameters: DiskEditParameters,
                 provider: pulumi.ProviderResource, parent: pulumi.Resource):
        # A disk made with its edit (before this resource existed) carries it in its state.
        made_with_edit = pulumi.Output.unsecret(disk.edit.apply(bool))
        props = {"zone": zone, "diskId": disk.sakuraId, "parameters": parameters.inputs(), "madeWithEdit": made_with_edit,
                 "applied": None}
        super().__init__(DiskEditType.token, resource_name, props, pulumi.ResourceOptions(provider=provider, parent=parent))
