"""A packet filter: inbound, stateless rules Sakura applies on the NICs it is attached to.

Packet filters carry no tags, so one is adopted by its name and by this state's owner, written at
the end of its description (`owner=<id>`); a filter with that name and another owner is refused, like
the tagged resources. Its rules change in place (`Expression`); a VM's NIC takes the filter through
the server's `packetFilterIds` (see `server.py`).
"""

from __future__ import annotations

from typing import Optional

import pulumi

from .client import AmbiguousRequest, SakuraApiError, SakuraClient
from .provider import OWNER_TAG, PACKAGE, Common, OwnedElsewhere, SakuraResourceType, is_unclear_create, owner_of


class PacketFilterType(SakuraResourceType):
    token = f"{PACKAGE}:sakura:PacketFilter"
    resource, envelope, list_key = "packetfilter", "PacketFilter", "PacketFilters"
    update_keys = ("name", "description", "tags", "expression")

    @staticmethod
    def _description(props: dict) -> str:
        owner = owner_of(props.get("tags") or [])
        return f"{props.get('description', '')} {OWNER_TAG}{owner}".strip()

    def _body(self, props: dict) -> dict:
        return {"PacketFilter": {"Name": props["name"], "Description": self._description(props), "Expression": props["expression"]}}

    def _find(self, c: SakuraClient, props: dict) -> Optional[dict]:
        owner = owner_of(props.get("tags") or [])
        found = [f for f in c.find(self.resource, self.list_key, {"Name": props["name"]}) if f.get("Name") == props["name"]]
        mine = [f for f in found if owner_of((f.get("Description") or "").split()) == owner]
        if mine:
            return min(mine, key=lambda f: int(f["ID"]))
        if found:
            other = found[0]
            raise OwnedElsewhere(f"Sakura packet filter {other['ID']} ({other['Name']}) in zone {c.zone} has this stack's name but "
                                 f"belongs to another Pulumi state (owner={owner_of((other.get('Description') or '').split()) or 'none'}; "
                                 f"this state is owner={owner}); it is not taken over")
        return None

    def create(self, news: dict) -> tuple[str, dict]:
        c = self.client(news)
        found = self._find(c, news)
        if found is None:
            try:
                found = c.post(self.resource, self._body(news))[self.envelope]
            except (AmbiguousRequest, SakuraApiError) as e:
                if not is_unclear_create(e):
                    raise
                found = c.wait_until("packet filter after an unclear create", lambda: self._find(c, news), bool)
        elif found.get("Expression") != news["expression"]:
            c.put(f"{self.resource}/{found['ID']}", {**self._body(news), "OriginalExpressionHash": ""})
        return str(found["ID"]), {**news, "sakuraId": str(found["ID"])}

    def read(self, id_: str, state: dict) -> Optional[dict]:
        found = self.client(state).get_or_none(f"{self.resource}/{id_}")
        return {**state, "expression": found[self.envelope].get("Expression") or []} if found else None

    def update(self, id_: str, state: dict, news: dict) -> dict:
        self.client(news).put(f"{self.resource}/{id_}", {**self._body(news), "OriginalExpressionHash": ""})
        return {**news, **self.kept(state)}

    def delete(self, id_: str, state: dict) -> None:
        c = self.client(state)
        # The servers using it are deleted (or let go of it) first; Sakura refuses to delete a filter in use.
        c.wait_until(f"packet filter {id_} unused", lambda: c.get_or_none(f"{self.resource}/{id_}"),
                     lambda f: f is None or not (f[self.envelope].get("Interfaces") or []))
        c.delete_if_exists(f"{self.resource}/{id_}")


class PacketFilter(pulumi.CustomResource):
    sakuraId: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, sakura_name: str, description: str, expression: list[dict],
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {**common.inputs(sakura_name, description), "expression": expression, "sakuraId": None}
        super().__init__(PacketFilterType.token, resource_name, props, common.options(opts))
