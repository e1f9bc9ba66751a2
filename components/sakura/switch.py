"""A switch (the private segment between the router and the workers)."""

from __future__ import annotations

from typing import Optional

import pulumi

from .provider import PACKAGE, Common, SakuraResourceType


class SwitchType(SakuraResourceType):
    token = f"{PACKAGE}:sakura:Switch"
    resource, envelope, list_key = "switch", "Switch", "Switches"

    def create(self, news: dict) -> tuple[str, dict]:
        c = self.client(news)
        tags = self.tags_for(news)
        body = {"Switch": {"Name": news["name"], "Description": news.get("description", ""), "Tags": tags}}
        switch = self.adopt_or_create(c, tags, lambda: c.post("switch", body))
        return str(switch["ID"]), {**news, "sakuraId": str(switch["ID"])}

    def read(self, id_: str, state: dict) -> Optional[dict]:
        switch = self.live(self.client(state), state.get("sakuraId", id_))
        return {**state, "name": switch["Name"]} if switch else None

    def delete(self, id_: str, state: dict) -> None:
        c = self.client(state)
        sakura_id = state.get("sakuraId", id_)
        if self.live(c, sakura_id) is None:
            return
        c.wait_until(f"switch {sakura_id} unreferenced", lambda: c.get_or_none(f"switch/{sakura_id}"),
                     lambda s: s is None or not s["Switch"].get("ServerCount"))
        c.delete_if_exists(f"switch/{sakura_id}")


class Switch(pulumi.CustomResource):
    sakuraId: pulumi.Output[str]

    def __init__(self, resource_name: str, common: Common, sakura_name: str, description: str,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(SwitchType.token, resource_name, {**common.inputs(sakura_name, description), "sakuraId": None},
                         common.options(opts))
