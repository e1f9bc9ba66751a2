"""The edge router as VyOS 1.4 `set` commands, and the vbash scripts that apply them.

Two parts from the plan, each applied by its own script that owns its own subtrees:
- base: interfaces on the router's switch (proxy-ARP on, so the upstream router reaches MetalLB's
  global pool through us) and on the private switch, a default route upstream, SNAT of the workers
  except toward the global block, WireGuard to the venue and other clusters (holds the private key), whose
  API VIPs it reaches from its tunnel address;
- bgp: eBGP with one neighbor per worker, multipath so ECMP spreads traffic over every worker, and
  an import filter that only takes MetalLB pool addresses. It holds no secret, so a preview shows
  its changes (a new worker is one more neighbor here and nothing else).

Each script deletes the subtrees it owns, sets them again and commits: VyOS commits only a
difference, so re-applying the same commands changes nothing on the router.
"""

from __future__ import annotations

from ..plan import Plan, WireGuardPeer
from .router_firewall import router_rules
from .secrets import secret

WIREGUARD_PRIVATE_KEY = "wireguard-private-key"
POOLS_PREFIX_LIST = "METALLB-POOLS"
IMPORT_MAP, EXPORT_MAP = "METALLB-IN", "DENY-ALL"
BGP_SUBTREES = (
    "policy prefix-list " + POOLS_PREFIX_LIST,
    "policy route-map " + IMPORT_MAP,
    "policy route-map " + EXPORT_MAP,
    "protocols bgp",
)


def _q(value: object) -> str:
    """A value in single quotes; VyOS scripts cannot carry a quote inside one, so none may hold one."""
    if "'" in str(value):
        raise ValueError(f"a VyOS value cannot contain a single quote: {value!r}")
    return f"'{value}'"


def base_subtrees(plan: Plan) -> tuple[str, ...]:
    nics = tuple(f"interfaces ethernet {nic.interface} address" for nic in plan.machine(plan.router.name).nics)
    return nics + ("interfaces wireguard", "nat source", "protocols static", "firewall ipv4", LOGIN_KEYS, METRICS)


METRICS = "service monitoring telegraf prometheus-client"


def vyos_metrics_commands(plan: Plan) -> list[str]:
    """The router's metrics for the monitoring layer (when on): VyOS's telegraf as a Prometheus client on the private
    address, answering the private switch only (interfaces, WireGuard, system)."""
    if plan.monitoring is None:
        return []
    address, port = plan.monitoring.router_metrics.rsplit(":", 1)
    return [f"set {METRICS} listen-address {_q(address)}", f"set {METRICS} port {_q(port)}",
            f"set {METRICS} allow-from {_q(plan.private_network)}"]


LOGIN_KEYS = "system login user vyos authentication public-keys"


def vyos_login_commands(keys: tuple[str, ...]) -> list[str]:
    """The `vyos` user's SSH keys: the stack's own key first, then the operators' (OpenSSH public key lines)."""
    cmds = []
    for i, line in enumerate(keys):
        key_type, blob = line.split()[:2]
        name = "contest-k8s" if i == 0 else f"operator-{i}"
        cmds += [f"set {LOGIN_KEYS} {name} key {_q(blob)}", f"set {LOGIN_KEYS} {name} type {_q(key_type)}"]
    return cmds


def vyos_bootstrap_commands(plan: Plan, keys: tuple[str, ...]) -> list[str]:
    """What the router needs on its first boot, before anything can reach it over SSH: its name and addresses,
    the default route, SSH by key only with the stack's and the operators' keys, and its firewall.
    Everything else (NAT, WireGuard, BGP) is applied over SSH afterwards."""
    r = plan.router
    outside, inside = (nic.interface for nic in plan.machine(r.name).nics)
    return [
        f"set system host-name {_q(f'{plan.stack}-router')}",
        f"set interfaces ethernet {outside} address {_q(r.global_address)}",
        f"set interfaces ethernet {inside} address {_q(r.private_address)}",
        f"set protocols static route 0.0.0.0/0 next-hop {r.upstream_gateway}",
        "set service ssh port '22'",
        "set service ssh disable-password-authentication",
        *vyos_login_commands(keys),
        *vyos_firewall_commands(plan),
    ]


def vyos_firewall_commands(plan: Plan) -> list[str]:
    """`render.router_firewall` as VyOS 1.4 firewall commands: input and forward filters, default drop."""
    cmds = []
    for chain, rules in router_rules(plan).items():
        prefix = f"set firewall ipv4 {chain} filter"
        cmds.append(f"{prefix} default-action 'drop'")
        for i, rule in enumerate(rules, start=1):
            r = f"{prefix} rule {10 * i}"
            cmds += [f"{r} action 'accept'", f"{r} description {_q(rule.description)}"]
            if rule.established:
                cmds += [f"{r} state 'established'", f"{r} state 'related'"]
            if rule.interface:
                cmds.append(f"{r} inbound-interface name {_q(rule.interface)}")
            if rule.source:
                cmds.append(f"{r} source address {_q(rule.source)}")
            if rule.destination:
                cmds.append(f"{r} destination address {_q(rule.destination)}")
            if rule.protocol:
                cmds.append(f"{r} protocol {_q(rule.protocol)}")
            if rule.ports:
                cmds.append(f"{r} destination port {_q(','.join(map(str, rule.ports)))}")
    return cmds


def vyos_base_commands(plan: Plan, peers: tuple[WireGuardPeer, ...], keys: tuple[str, ...]) -> list[str]:
    """`peers` are every WireGuard peer: the plan's venue plus other clusters from their stacks; `keys` the
    `vyos` user's SSH keys (the stack's, then the operators')."""
    r, wg = plan.router, plan.wireguard
    outside, inside = (nic.interface for nic in plan.machine(r.name).nics)
    cmds = [
        f"set system host-name {_q(f'{plan.stack}-router')}",
        f"set interfaces ethernet {outside} address {_q(r.global_address)}",
        f"set interfaces ethernet {outside} description {_q('router+switch (global)')}",
        f"set interfaces ethernet {outside} ip enable-proxy-arp",
        f"set interfaces ethernet {inside} address {_q(r.private_address)}",
        f"set interfaces ethernet {inside} description {_q('private switch')}",
        f"set protocols static route 0.0.0.0/0 next-hop {r.upstream_gateway}",
        "set service ssh port '22'",
        "set service ssh disable-password-authentication",
    ]
    cmds += vyos_login_commands(keys) + vyos_firewall_commands(plan) + vyos_metrics_commands(plan)
    for i, destination in enumerate(r.snat_exempt_destinations):
        for source in r.snat_sources:
            rule = f"set nat source rule {10 + i}"
            cmds += [
                f"{rule} description {_q('keep source toward ' + str(destination))}",
                f"{rule} outbound-interface name {_q(outside)}",
                f"{rule} source address {_q(source)}",
                f"{rule} destination address {_q(destination)}",
                f"{rule} exclude",
            ]
    reached = [(peer.name, d) for peer in peers for d in peer.from_tunnel_address]
    for i, (name, destination) in enumerate(reached):
        rule = f"set nat source rule {50 + i}"
        cmds += [
            f"{rule} description {_q(name + ': from the tunnel address')}",
            f"{rule} outbound-interface name {_q(wg.interface)}",
            f"{rule} destination address {_q(destination)}",
            f"{rule} translation address 'masquerade'",
        ]
    for i, source in enumerate(r.snat_sources):
        rule = f"set nat source rule {100 + i}"
        cmds += [
            f"{rule} description {_q('workers to the internet')}",
            f"{rule} outbound-interface name {_q(outside)}",
            f"{rule} source address {_q(source)}",
            f"{rule} translation address 'masquerade'",
        ]
    cmds += [
        f"set interfaces wireguard {wg.interface} address {_q(wg.address)}",
        f"set interfaces wireguard {wg.interface} description {_q('venue and other clusters')}",
        f"set interfaces wireguard {wg.interface} port {_q(wg.listen_port)}",
        f"set interfaces wireguard {wg.interface} private-key {_q(secret(WIREGUARD_PRIVATE_KEY))}",
    ]
    for peer in peers:
        prefix = f"set interfaces wireguard {wg.interface} peer {peer.name}"
        cmds.append(f"{prefix} public-key {_q(peer.public_key)}")
        cmds += [f"{prefix} allowed-ips {_q(network)}" for network in peer.allowed_ips]
        if peer.endpoint:
            host, port = peer.endpoint.rsplit(":", 1)
            cmds += [f"{prefix} address {_q(host)}", f"{prefix} port {_q(port)}"]
        if peer.persistent_keepalive:
            cmds.append(f"{prefix} persistent-keepalive {_q(peer.persistent_keepalive)}")
        cmds += [f"set protocols static route {network} interface {wg.interface}"
                 for network in peer.allowed_ips if not network.overlaps(wg.address.network)]
    return cmds


def vyos_bgp_commands(plan: Plan) -> list[str]:
    bgp = plan.bgp
    cmds = []
    for i, network in enumerate(n for pool in plan.pools for n in pool.networks):
        rule = f"set policy prefix-list {POOLS_PREFIX_LIST} rule {10 * (i + 1)}"
        cmds += [f"{rule} action 'permit'", f"{rule} prefix {_q(network)}", f"{rule} le '32'"]
    cmds += [
        f"set policy route-map {IMPORT_MAP} rule 10 action 'permit'",
        f"set policy route-map {IMPORT_MAP} rule 10 match ip address prefix-list {_q(POOLS_PREFIX_LIST)}",
        f"set policy route-map {EXPORT_MAP} rule 10 action 'deny'",
        f"set protocols bgp system-as {_q(bgp.router_asn)}",
        f"set protocols bgp parameters router-id {_q(bgp.router_id)}",
        "set protocols bgp parameters bestpath as-path multipath-relax",
        f"set protocols bgp address-family ipv4-unicast maximum-paths ebgp {_q(bgp.max_paths)}",
    ]
    for n in bgp.neighbors:
        prefix = f"set protocols bgp neighbor {n.address}"
        cmds += [
            f"{prefix} description {_q(n.name)}",
            f"{prefix} remote-as {_q(bgp.speaker_asn)}",
            f"{prefix} timers holdtime {_q(bgp.hold_time)}",
            f"{prefix} timers keepalive {_q(bgp.keepalive)}",
            f"{prefix} address-family ipv4-unicast route-map import {_q(IMPORT_MAP)}",
            f"{prefix} address-family ipv4-unicast route-map export {_q(EXPORT_MAP)}",
        ]
    return cmds


REJECTED = " || rejected=$((rejected + 1))"


def vyos_apply_script(what: str, owned: tuple[str, ...], commands: list[str]) -> str:
    """vbash script: replace the `owned` subtrees with `commands`, commit (a no-op when nothing changed), save.

    A `set` that VyOS rejects stops the script before `commit`, so a partial config is never
    committed (the uncommitted session is discarded). A `delete` of a subtree that does not exist
    yet fails harmlessly on the first run and is not counted.
    """
    deletes = "\n".join(f"delete {subtree} >/dev/null 2>&1 || true" for subtree in owned)
    sets = "\n".join(command + REJECTED for command in commands)
    return f"""\
#!/bin/vbash
# shellcheck shell=bash disable=SC2121
# Applies the edge router's {what}. Generated by contest-k8s; safe to run again.
# (In vbash configure mode `set` is the VyOS configuration command, not the shell builtin.)
# shellcheck source=/dev/null
source /opt/vyatta/etc/functions/script-template
configure
rejected=0
{deletes}
{sets}
if [ "$rejected" -ne 0 ]; then
  echo "contest-k8s: VyOS rejected $rejected commands of the {what}; nothing was committed" >&2
  exit 1
fi
commit || exit 1
save
exit
"""
