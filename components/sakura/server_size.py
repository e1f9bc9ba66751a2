"""The size (CPU, memory) of a VM, changed in place: shutdown, plan change, power on.

A separate resource from the Server, so the layers can order a size change without ordering VM
creation: a control plane's size waits for the previous control plane's readiness gate, and its
own drain runs before it, while every Server is still created at once on day one. Its create finds
the VM (made with the planned size) and changes nothing when the live size already matches, which
is every day-one create; an update changes the plan as the Server did before:
- an ACPI shutdown (forced only after a grace time), the plan change, power on only if it was up;
- Sakura gives the VM a new ID: before the change the VM is tagged `@previous-id=` with its current
  ID and with its first ID (the Server's Pulumi ID), at most two such tags whatever the number of
  changes, so the Server (whose state may hold any older ID) always finds it through its first ID;
- the tag limit is checked before the VM is shut down, never after.
Deleting it changes nothing: the VM belongs to its Server.
"""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi

from . import catalog
from .client import SakuraClient
from .provider import PACKAGE, PREVIOUS_ID_TAG, SakuraResourceType, previous_id_tags
from .server import ServerType


class ServerSizeType(SakuraResourceType):
    token = f"{PACKAGE}:sakura:ServerSize"
    resource, envelope, list_key = "server", "Server", "Servers"
    replace_keys = ("zone", "serverId")  # a new VM is a new size resource (created as a no-op)
    update_keys = ("cpu", "memoryGb")
    create_only_keys = ("liveIdHint",)
    computed_keys = ("sakuraId", "instanceStatus")

    def __init__(self, config):
        super().__init__(config)
        self._server = ServerType(config)  # power on/off and plan bodies, as the Server does them

    def changed_by_update(self, state: dict, news: dict) -> tuple[str, ...]:
        return ("sakuraId", "instanceStatus") if self._size(state) != self._size(news) else ()

    @staticmethod
    def _size(props: dict) -> tuple:
        return int(props.get("cpu") or 0), int(props.get("memoryGb") or 0)

    def _find(self, c: SakuraClient, *ids: Optional[str]) -> dict:
        for sakura_id in ids:
            if sakura_id:
                found = self.live(c, str(sakura_id))
                if found is not None:
                    return found
        raise self.gone(c, str(next(i for i in ids if i)))

    def create(self, news: dict) -> tuple[str, dict]:
        c = self.client(news)
        server = self._find(c, news.get("liveIdHint"), news["serverId"])
        return f"{news['serverId']}-size", {**news, **self._apply(c, server, news)}

    def read(self, id_: str, state: dict) -> Optional[dict]:
        c = self.client(state)
        server = self.live(c, state.get("sakuraId") or state["serverId"]) or self.live(c, state["serverId"])
        if server is None:
            return None
        plan = server.get("ServerPlan") or {}
        return {**state, "cpu": plan.get("CPU", state.get("cpu")), "memoryGb": int(plan.get("MemoryMB") or 0) // 1024 or state.get("memoryGb"),
                **self._outputs(server)}

    def update(self, id_: str, state: dict, news: dict) -> dict:
        c = self.client(news)
        server = self._find(c, state.get("sakuraId"), news["serverId"])
        return {**news, **self.kept(state), **self._apply(c, server, news)}

    def delete(self, id_: str, state: dict) -> None:
        return None  # the VM is the Server's

    @staticmethod
    def _outputs(server: dict) -> dict:
        return {"sakuraId": str(server["ID"]), "instanceStatus": (server.get("Instance") or {}).get("Status", "")}

    def _apply(self, c: SakuraClient, server: dict, news: dict) -> dict:
        """Give the live VM the wanted size; nothing at all when it has it already."""
        plan = server.get("ServerPlan") or {}
        if (int(plan.get("CPU") or 0), int(plan.get("MemoryMB") or 0) // 1024) == self._size(news):
            return self._outputs(server)
        server_id = str(server["ID"])
        first_id = str(news["serverId"])
        keep = sorted({PREVIOUS_ID_TAG + server_id} | ({PREVIOUS_ID_TAG + first_id} if first_id != server_id else set()))
        others = [t for t in server.get("Tags") or [] if t not in previous_id_tags(server)]
        if len(others) + len(keep) > catalog.MAX_TAGS:
            raise ValueError(f"server {server_id} ({server.get('Name')}) has {len(others)} tags: Sakura allows {catalog.MAX_TAGS}, "
                             f"and a plan change needs {len(keep)} for @previous-id; nothing was changed")
        was_up = (server.get("Instance") or {}).get("Status") == "up"
        self._server._power_off(c, server_id)
        # Tagged before the change: if its answer is lost, the tag tells whether it happened.
        c.put(f"server/{server_id}", {"Server": {"Name": server["Name"], "Description": server.get("Description", ""),
                                                 "Tags": sorted(others + keep)}})
        new_id = self.change_with_new_id(c, server_id, f"server/{server_id}/plan", ServerType._plan(news))
        if was_up:
            return self._outputs(self._server._power_on(c, new_id))
        return self._outputs(c.get(f"server/{new_id}")["Server"])


class ServerSize(pulumi.CustomResource):
    sakuraId: pulumi.Output[str]
    instanceStatus: pulumi.Output[str]

    def __init__(self, resource_name: str, zone: str, server: pulumi.CustomResource, cpu: int, memory_gb: int,
                 provider: pulumi.ProviderResource, parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = ()):
        props = {"zone": zone, "serverId": server.id, "liveIdHint": server.sakuraId, "cpu": cpu, "memoryGb": memory_gb,
                 "sakuraId": None, "instanceStatus": None}
        super().__init__(ServerSizeType.token, resource_name, props,
                         pulumi.ResourceOptions(provider=provider, parent=parent, depends_on=list(depends_on)))
