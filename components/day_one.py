"""Settings a running cluster cannot change, recorded in state on day one and guarded on every run.

The API VIP, the pod and service networks, the router's addresses and every node's host number are
baked into things nothing re-applies: certificates, disk edit, etcd, the nodes' pod ranges. A later
edit of them in the stack file would leave the cluster half-changed, so the record (the first
resources the program registers) refuse it while the engine checks their inputs, before anything is
created or changed, naming the key and the way to rebuild. Keys that were not recorded yet (a layer
switched on later) are recorded; each node has a record of its own, which leaves with the node.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from .config import PROJECT, LoadedConfig
from .sakura.provider import PACKAGE, Diff

TOKEN = f"{PACKAGE}:cluster:DayOneSettings"


def cluster_settings(loaded: LoadedConfig) -> dict[str, str]:
    """Config key -> value (as text) of every cluster-wide setting fixed once the cluster exists."""
    c = loaded.config
    settings = {
        "zone": c.zone,
        "network.globalPrefixLength": str(c.network.global_prefix_length),
        "network.privateCidr": str(c.network.private_cidr),
        "router.globalHost": str(c.router.global_host),
        "router.privateHost": str(c.router.private_host),
    }
    if c.layers.api_load_balancer:
        settings["apiLoadBalancer.vipHost"] = str(c.api_load_balancer.vip_host)
    if c.layers.kubernetes:
        settings["kubernetes.podCidr"] = str(c.kubernetes.pod_cidr)
        settings["kubernetes.serviceCidr"] = str(c.kubernetes.service_cidr)
    return dict(sorted(settings.items()))


def node_settings(loaded: LoadedConfig) -> dict[str, dict[str, str]]:
    """Per node, its host number (its address), fixed once the node exists; one record each, so adding
    a node adds its own record and changes no other."""
    c = loaded.config
    roles = (("apiLoadBalancer.nodes", c.api_load_balancer.nodes), ("controlPlanes.nodes", c.control_planes.nodes),
             ("workers.nodes", c.workers.nodes))
    return {name: {f"{key}.{name}": str(host)} for key, nodes in roles for name, host in sorted(nodes.items())}


def _how_to_change(key: str, stack: str) -> str:
    if ".nodes." in key:
        node = key.rsplit(".", 1)[1]
        return (f"a node keeps the address it was made with: remove {node} from the stack file, `pulumi up -s {stack}`, "
                "then add it back with the new host number")
    return f"to change it, rebuild the cluster: `pulumi destroy -s {stack}`, then `pulumi up -s {stack}`"


def refused_changes(recorded: dict[str, str], wanted: dict[str, str], stack: str) -> list[tuple[str, str]]:
    """(key, reason) for every recorded setting the stack file now changes."""
    return [(f"{PROJECT}:{key}", f"{PROJECT}:{key} was {recorded[key]} when the cluster was created; given {wanted[key]}. "
             f"It cannot change on a running cluster; {_how_to_change(key, stack)}")
            for key in sorted(recorded.keys() & wanted.keys()) if recorded[key] != wanted[key]]


class DayOneSettingsType:
    """The record served by the project's provider plugin: no cloud object, only the guard."""

    token = TOKEN

    def __init__(self, config: object = None):
        self.config = config

    def check(self, olds: dict, news: dict) -> tuple[dict, list[tuple[str, str]]]:
        refused = refused_changes(olds.get("settings") or {}, news.get("settings") or {}, news.get("stack", ""))
        source = news.get("stackFile", "the stack file")
        return news, [(key, f"{source}: {reason}") for key, reason in refused]

    def diff(self, state: dict, news: dict) -> Diff:
        return Diff(updates=tuple(k for k in ("settings", "stackFile") if state.get(k) != news.get(k)))

    def preview_create(self, news: dict) -> dict:
        return news

    def preview_update(self, state: dict, news: dict) -> dict:
        return news

    def create(self, news: dict) -> tuple[str, dict]:
        return "day-one", news

    def read(self, id_: str, state: dict) -> Optional[dict]:
        return state

    def update(self, id_: str, state: dict, news: dict) -> dict:
        return news

    def delete(self, id_: str, state: dict) -> None:
        return None


class DayOneSettings(pulumi.CustomResource):
    settings: pulumi.Output[dict]

    def __init__(self, resource_name: str, loaded: LoadedConfig, settings: dict[str, str], provider: pulumi.ProviderResource):
        props = {"stack": loaded.stack, "stackFile": loaded.source, "settings": settings}
        super().__init__(TOKEN, resource_name, props, pulumi.ResourceOptions(provider=provider))


def record_day_one(loaded: LoadedConfig, provider: pulumi.ProviderResource) -> None:
    """The records, registered before any other resource so a refused change stops the run before anything moves."""
    DayOneSettings("day-one", loaded, cluster_settings(loaded), provider)
    for node, settings in node_settings(loaded).items():
        DayOneSettings(f"{node}-day-one", loaded, settings, provider)


ORIGIN_TOKEN = f"{PACKAGE}:cluster:ClusterOrigin"


class ClusterOriginType:
    """Which VM initialised the cluster: recorded when the record is made, kept through every update.

    The bootstrap control plane's join reads it: when its own identity (server and boot disk IDs)
    is not the one recorded, the cluster was made by an earlier VM (the node was replaced, or another
    node became the bootstrap node), so it joins and never runs `kubeadm init`. A decision from
    Pulumi's state, not from whether the API endpoint happens to answer.
    """

    token = ORIGIN_TOKEN

    def __init__(self, config: object = None):
        self.config = config

    def check(self, olds: dict, news: dict) -> tuple[dict, list[tuple[str, str]]]:
        return news, []

    def diff(self, state: dict, news: dict) -> Diff:
        return Diff(updates=("bootstrap",) if state.get("bootstrap") != news.get("bootstrap") else ())

    def preview_create(self, news: dict) -> dict:
        return {**news, "initialisedBy": news.get("bootstrap")}

    def preview_update(self, state: dict, news: dict) -> dict:
        return {**news, "initialisedBy": state.get("initialisedBy")}

    def create(self, news: dict) -> tuple[str, dict]:
        return "cluster-origin", self.preview_create(news)

    def read(self, id_: str, state: dict) -> Optional[dict]:
        return state

    def update(self, id_: str, state: dict, news: dict) -> dict:
        return self.preview_update(state, news)

    def delete(self, id_: str, state: dict) -> None:
        return None


class ClusterOrigin(pulumi.CustomResource):
    initialisedBy: pulumi.Output[str]  # the bootstrap node's identity when the cluster was first made

    def __init__(self, resource_name: str, bootstrap: pulumi.Input[str], provider: pulumi.ProviderResource,
                 parent: Optional[pulumi.Resource] = None):
        super().__init__(ORIGIN_TOKEN, resource_name, {"bootstrap": bootstrap, "initialisedBy": None},
                         pulumi.ResourceOptions(provider=provider, parent=parent))
