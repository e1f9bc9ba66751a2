"""The router+switch (`/internet`): a router with a global block and its switch.

Its GET may answer 404 for a while after the POST. A bandwidth change gives the router a new ID
(followed through `@previous-id`); the switch and the block stay, so a preview keeps them known.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from .client import SakuraClient
from .provider import PACKAGE, Common, SakuraResourceType

NETWORK_KEYS = ("switchId", "networkAddress", "gateway", "firstUsable", "lastUsable")


class RouterSwitchType(SakuraResourceType):
    token = f"{PACKAGE}:sakura:RouterSwitch"
    resource, envelope, list_key = "internet", "Internet", "Internet"
    replace_keys = ("zone", "prefixLength")
    update_keys = ("name", "description", "tags", "bandwidthMbps")
    computed_keys = ("sakuraId",) + NETWORK_KEYS

    def changed_by_update(self, state: dict, news: dict) -> tuple[str, ...]:
        return ("sakuraId",) if state.get("bandwidthMbps") != news.get("bandwidthMbps") else ()

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

    def create(self, news: dict) -> tuple[str, dict]:
        c = self.client(news)
        tags = self.tags_for(news)
        body = {"Internet": {"Name": news["name"], "Description": news.get("description", ""), "Tags": tags,
                             "NetworkMaskLen": int(news["prefixLength"]), "BandWidthMbps": int(news["bandwidthMbps"])}}
        router = self.adopt_or_create(c, tags, lambda: c.post("internet", body))
        router = self._wait_visible(c, str(router["ID"]))
        return str(router["ID"]), {**news, **self._network(c, router)}

    def read(self, id_: str, state: dict) -> Optional[dict]:
        c = self.client(state)
        router = self.live(c, state.get("sakuraId", id_))
        if router is None:
            return None
        return {**state, "bandwidthMbps": router["BandWidthMbps"], **self._network(c, router)}

    def update(self, id_: str, state: dict, news: dict) -> dict:
        c = self.client(news)
        router = self.live(c, state["sakuraId"])
        if router is None:
            raise self.gone(c, state["sakuraId"])
        router_id = str(router["ID"])
        keep = self.keep_previous_ids(router)
        if int(state["bandwidthMbps"]) != int(news["bandwidthMbps"]):
            keep = self.keep_previous_ids(router, router_id)
            self.put_metadata(c, router_id, news, keep)
            new_id = self.change_with_new_id(c, router_id, f"internet/{router_id}/bandwidth",
                                             {"Internet": {"BandWidthMbps": int(news["bandwidthMbps"])}})
            router = self._wait_visible(c, new_id)
            router_id = str(router["ID"])
        self.put_metadata(c, router_id, news, keep)
        return {**news, **self._network(c, router)}

    def delete(self, id_: str, state: dict) -> None:
        c = self.client(state)
        router = self.live(c, state.get("sakuraId", id_))
        if router is None:
            return
        switch_id = str(router["Switch"]["ID"])
        c.wait_until(f"router switch {switch_id} unreferenced", lambda: c.get_or_none(f"switch/{switch_id}"),
                     lambda s: s is None or not s["Switch"].get("ServerCount"))
        c.delete_if_exists(f"internet/{router['ID']}")


class RouterSwitch(pulumi.CustomResource):
    sakuraId: pulumi.Output[str]
    switchId: pulumi.Output[str]
    networkAddress: pulumi.Output[str]
    gateway: pulumi.Output[str]
    firstUsable: pulumi.Output[str]
    lastUsable: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, sakura_name: str, description: str, prefix_length: int,
                 bandwidth_mbps: int, opts: Optional[pulumi.ResourceOptions] = None):
        props = {**common.inputs(sakura_name, description), "prefixLength": prefix_length, "bandwidthMbps": bandwidth_mbps,
                 "sakuraId": None, **{k: None for k in NETWORK_KEYS}}
        super().__init__(RouterSwitchType.token, resource_name, props, common.options(opts))
