"""Edge router layer: the config applied over SSH, in the VyOS or the FRR flavor, from the same plan.

Two commands on the router: `router-config` (interfaces, NAT, WireGuard; its stdin is secret because
it carries the WireGuard key) and `router-bgp` (the BGP neighbors and filters; no secret, so a preview
shows its diff, e.g. the one neighbor a new worker adds).

The router's WireGuard private key is 32 random bytes from pulumi-random (secret everywhere); its
public key is derived with X25519 and exported, with the endpoint, tunnel address, routed prefixes
and a ready wg-quick `[Peer]` block, for the venue. Other clusters configured in
`wireguard.clusterPeers` are read from their stacks' `wireguard` output (StackReference); a stack
that does not exist yet, or has no such output yet, is skipped with a warning and picked up by the
next `pulumi up`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_random as random

from . import artifacts
from .plan import Plan, WireGuardPeer
from .remote import Host, SshAccess, run_script
from .render.frr import frr_bgp_script, frr_conf, frr_setup_script, nftables_conf
from .render.vyos import BGP_SUBTREES, WIREGUARD_PRIVATE_KEY, base_subtrees, vyos_apply_script, vyos_base_commands, vyos_bgp_commands
from .render.wireguard import ClusterPeer, cluster_peer, public_key, router_wg_conf
from .stack_outputs import read_plain_output


@dataclass(frozen=True)
class EdgeRouterArgs:
    plan: pulumi.Output[Plan]
    flavor: str
    host: Host
    access: SshAccess
    cluster_peer_stacks: tuple[tuple[str, str], ...]
    login_keys: pulumi.Input[tuple[str, ...]]  # the vyos user's SSH keys (the frr flavor's login user has its own command)


class EdgeRouter(pulumi.ComponentResource):
    wireguard: pulumi.Output[dict]
    host: Host

    def __init__(self, name: str, args: EdgeRouterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("contest-k8s:index:EdgeRouter", name, None, opts)
        plan = args.plan
        child = pulumi.ResourceOptions(parent=self)
        key = random.RandomBytes("wireguard-key", length=32, opts=child)
        router_public_key = pulumi.Output.unsecret(key.base64.apply(public_key))
        cluster_peers = tuple(p for p in (self._cluster_peer(n, ref) for n, ref in args.cluster_peer_stacks) if p is not None)
        peers = plan.apply(lambda p: p.wireguard.peers + cluster_peers)
        both = pulumi.Output.all(plan, peers)

        if args.flavor == "vyos":
            base_cmds = pulumi.Output.all(plan, peers, args.login_keys).apply(lambda v: vyos_base_commands(v[0], v[1], tuple(v[2])))
            bgp_cmds = plan.apply(vyos_bgp_commands)
            artifacts.publish("router/router/base.vyos", "router", base_cmds.apply(_lines), host="router")
            artifacts.publish("router/router/bgp.vyos", "router", bgp_cmds.apply(_lines), host="router")
            base = pulumi.Output.all(plan, base_cmds).apply(lambda v: vyos_apply_script("base configuration", base_subtrees(v[0]), v[1]))
            bgp = bgp_cmds.apply(lambda c: vyos_apply_script("BGP configuration", BGP_SUBTREES, c))
        else:
            artifacts.publish("router/router/frr.conf", "router", plan.apply(frr_conf), host="router")
            artifacts.publish("router/router/nftables.conf", "router", both.apply(lambda v: nftables_conf(v[0], v[1])), host="router")
            artifacts.publish("router/router/wg0.conf", "wireguard", both.apply(lambda v: router_wg_conf(v[0], v[1])), host="router")
            base = both.apply(lambda v: frr_setup_script(v[0], v[1]))
            bgp = plan.apply(frr_bgp_script)
        artifacts.publish("router/router/apply-base.sh", "script", base, host="router")
        artifacts.publish("router/router/apply-bgp.sh", "script", bgp, host="router")

        self.host = args.host
        self.config = run_script("router-config", self.host, args.access, base, secrets={WIREGUARD_PRIVATE_KEY: key.base64},
                                 parent=self)
        self.bgp = run_script("router-bgp", self.host, args.access, bgp, parent=self, depends_on=[self.config])

        peer = pulumi.Output.all(plan, router_public_key).apply(lambda v: cluster_peer(v[0], v[1]).as_output())
        artifacts.publish("wireguard/peer.json", "wireguard", peer.apply(lambda o: json.dumps(o, indent=2, sort_keys=True) + "\n"))
        artifacts.publish("wireguard/venue-peer.conf", "wireguard", peer.apply(lambda o: o["peerBlock"]))
        self.wireguard = peer
        self.register_outputs({"wireguard": peer})

    def _cluster_peer(self, name: str, stack_ref: str) -> WireGuardPeer | None:
        """The peer from the other stack's `wireguard` output; None (with a warning) while it has none."""
        output = read_plain_output(stack_ref, "wireguard", f"cluster peer {name}", self)
        return ClusterPeer.from_output(output).as_router_peer() if output is not None else None


def _lines(commands: list[str]) -> str:
    return "\n".join(commands) + "\n"
