"""Edge router layer: one config applied over SSH, in the VyOS or the FRR flavor, from the same plan.

The router's WireGuard private key is 32 random bytes from pulumi-random (secret everywhere); its
public key is derived with X25519 and exported, with the endpoint, tunnel address, routed prefixes
and a ready wg-quick `[Peer]` block, for the venue. Other clusters configured in
`wireguard.clusterPeers` are read from their stacks' `wireguard` output (StackReference); a stack
that has no such output yet is skipped with a warning and picked up by the next `pulumi up`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_random as random

from . import artifacts
from .plan import Plan, WireGuardPeer
from .remote import Host, SshAccess, run_script
from .render.frr import frr_conf, frr_setup_script, nftables_conf
from .render.metallb import metallb_yaml
from .render.vyos import WIREGUARD_PRIVATE_KEY, vyos_apply_script, vyos_commands
from .render.wireguard import ClusterPeer, cluster_peer, public_key, router_wg_conf
from .sakura.resources import Server


@dataclass(frozen=True)
class EdgeRouterArgs:
    plan: pulumi.Output[Plan]
    flavor: str
    server: Server
    access: SshAccess
    ssh_user: str
    cluster_peer_stacks: tuple[tuple[str, str], ...]


class EdgeRouter(pulumi.ComponentResource):
    wireguard: pulumi.Output[dict]
    host: Host

    def __init__(self, name: str, args: EdgeRouterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("contest-k8s:index:EdgeRouter", name, None, opts)
        plan = args.plan
        child = pulumi.ResourceOptions(parent=self)
        key = random.RandomBytes("wireguard-key", length=32, opts=child)
        router_public_key = pulumi.Output.unsecret(key.base64.apply(public_key))
        peers = pulumi.Output.all(plan, *[self._cluster_peer(n, ref) for n, ref in args.cluster_peer_stacks]).apply(
            lambda v: v[0].wireguard.peers + tuple(p for p in v[1:] if p is not None)
        )
        both = pulumi.Output.all(plan, peers)

        if args.flavor == "vyos":
            commands = both.apply(lambda v: vyos_commands(v[0], v[1]))
            artifacts.publish("router/router/commands.vyos", "router", commands.apply(lambda c: "\n".join(c) + "\n"), host="router")
            text = pulumi.Output.all(plan, commands).apply(lambda v: vyos_apply_script(v[0], v[1]))
            artifacts.publish("router/router/apply.sh", "script", text, host="router")
            interpreter = "vbash -s"
        else:
            artifacts.publish("router/router/frr.conf", "router", plan.apply(frr_conf), host="router")
            artifacts.publish("router/router/nftables.conf", "router", plan.apply(nftables_conf), host="router")
            artifacts.publish("router/router/wg0.conf", "wireguard", both.apply(lambda v: router_wg_conf(v[0], v[1])), host="router")
            text = both.apply(lambda v: frr_setup_script(v[0], v[1]))
            artifacts.publish("router/router/setup.sh", "script", text, host="router")
            interpreter = "sudo bash -s"

        self.host = Host("router", plan.apply(lambda p: str(p.router.global_address.ip)), args.ssh_user)
        self.config = run_script("router-config", self.host, args.access, text, secrets={WIREGUARD_PRIVATE_KEY: key.base64},
                                 interpreter=interpreter, parent=self, depends_on=[args.server])

        peer = pulumi.Output.all(plan, router_public_key).apply(lambda v: cluster_peer(v[0], v[1]).as_output())
        artifacts.publish("wireguard/peer.json", "wireguard", peer.apply(lambda o: json.dumps(o, indent=2, sort_keys=True) + "\n"))
        artifacts.publish("wireguard/venue-peer.conf", "wireguard", peer.apply(lambda o: o["peerBlock"]))
        artifacts.publish("kubernetes/metallb-bgp.yaml", "kubernetes", plan.apply(metallb_yaml))
        self.wireguard = peer
        self.register_outputs({"wireguard": peer})

    def _cluster_peer(self, name: str, stack_ref: str) -> pulumi.Output:
        ref = pulumi.StackReference(f"peer-{name}", stack_name=stack_ref, opts=pulumi.ResourceOptions(parent=self))

        def to_peer(output: dict | None) -> WireGuardPeer | None:
            if not output:
                pulumi.log.warn(f"stack {stack_ref} has no wireguard output yet: peer {name} is left out until the next update", self)
                return None
            return ClusterPeer.from_output(output).as_router_peer()

        return ref.get_output("wireguard").apply(to_peer)
