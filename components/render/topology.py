"""The stack's topology as a Graphviz DOT document, drawn from the plan alone.

What the seeds drew by hand: the router+switch with its block and the private switch (one box
each), every VM with its role and addresses, the API VIP on the load balancers, the MetalLB
pools, the BGP session from the router to each worker with both ASNs, the WireGuard tunnel to the
venue, and which `layers` are on (what an off layer would configure is drawn grey and dotted).
Cluster peers come from other stacks' outputs, not from the plan, so the picture names the config
key instead of drawing them.

Pure text, like every render module: `components.diagram` turns it into SVG or PNG with Graphviz's
`dot`, outside the Pulumi program. The same plan gives the same bytes: everything is written in
plan order (names in natural order), every node and edge id is derived from a name (`vm-worker-1`,
`bgp-worker-1`: the SVG keeps them), and there is no date. Sized for a PR comment: left to right,
short labels, one box per switch, one edge per load balancer to the control planes' box.
"""

from __future__ import annotations

from html import escape
from typing import Iterable, Protocol, Sequence

from ..plan import Machine, Plan, Pool

FONT = "Helvetica"
ROLE_COLORS = {"router": "#fde2c8", "api-lb": "#d6e6fa", "control-plane": "#d9f0d3", "worker": "#fff3c4"}
BGP_COLOR, WIREGUARD_COLOR = "#2b6cb0", "#7b4bb3"
OFF = ', color="#9a9a9a", fontcolor="#9a9a9a", style=dotted'


class Layers(Protocol):
    """The stack's `layers` section (config.LayersConfig)."""

    edge: bool
    api_load_balancer: bool
    kubernetes: bool
    addons_on: bool


def topology_dot(plan: Plan, layers: Layers, cluster_peers: Iterable[str] = ()) -> str:
    """The DOT document for `plan`; `cluster_peers` are the names under `wireguard.clusterPeers`."""
    on = {"edge": layers.edge, "apiLoadBalancer": layers.api_load_balancer, "kubernetes": layers.kubernetes,
          "addons": layers.addons_on}
    edge_off = "" if layers.edge else OFF
    api_off = "" if layers.api_load_balancer else OFF
    router = plan.machine(plan.router.name)
    lbs = plan.machines_with_role("api-lb")
    control_planes = plan.machines_with_role("control-plane")
    workers = plan.machines_with_role("worker")
    api, bgp, wg, block = plan.api, plan.bgp, plan.wireguard, plan.global_block

    lines = [
        f'digraph "{plan.stack}" {{',
        f'  graph [rankdir=LR, compound=true, newrank=true, nodesep=0.2, ranksep=0.45, fontname="{FONT}", fontsize=12,'
        f' labelloc=t, labeljust=l, label={_html(_title(plan, on))}];',
        f'  node [shape=box, style="rounded,filled", fillcolor=white, fontname="{FONT}", fontsize=10, margin="0.12,0.03"];',
        f'  edge [fontname="{FONT}", fontsize=9, arrowsize=0.6];',
        _vm(router, f"{plan.router.flavor} · AS {bgp.router_asn}", f"{wg.interface} {wg.address}"),
        # The global segment: the router+switch Sakura runs (its block and gateway), with the load
        # balancers, the VIP they share, the control planes and the pool the router answers ARP for.
        "  subgraph cluster_global {",
        f'    id="switch-global"; style=rounded; color="#5b7fb3";'
        f' label={_html(f"<B>router+switch {block.network} · gateway {block.gateway}</B>")};',
        f'    "vip" [id="vip", shape=ellipse, style=filled, fillcolor="#eef3fb"{api_off},'
        f' label={_html(f"<B>API VIP (VRRP)</B><BR/>{api.vip.ip}:{api.port}")}];',
        *(_vm(m, m.role) for m in lbs),
        '    subgraph cluster_control_planes {',
        '      id="control-planes"; label=""; style="rounded,dashed"; color="#9ab89a";',
        *(_vm(m, m.role) for m in control_planes),
        "    }",
        *(_pool(p, _gateway(plan, p.name)) for p in plan.pools if p.name == "global"),
        "  }",
        "  subgraph cluster_private {",
        f'    id="switch-private"; style=rounded; color="#7a9a5b"; label={_html(f"<B>private switch {plan.private_network}</B>")};',
        *(_vm(m, f"{m.role} · AS {bgp.speaker_asn}") for m in workers),
        *(_pool(p, _gateway(plan, p.name)) for p in plan.pools if p.name != "global"),
        "  }",
    ]
    # Control planes in one column; the load balancers, which dot would otherwise put lb-2 above lb-1, in name order.
    lines += _same_rank([m.name for m in control_planes]) + _top_to_bottom([m.name for m in lbs])

    # The router's two NICs end at the switch boxes, not at a VM inside them.
    anchors = {"global": "vip", "private": workers[0].name if workers else "pool-private"}
    for nic in router.nics:
        lines.append(f'  "{router.name}" -> "{anchors[nic.segment]}" [id="nic-{nic.interface}", lhead=cluster_{nic.segment},'
                     f' arrowhead=none, penwidth=1.5, label="{nic.interface} {nic.address.ip}"];')
    # Invisible edges only place each pool one column right of the switch's first column.
    lines += [f'  "{anchors["global" if p.name == "global" else "private"]}" -> "pool-{p.name}" [style=invis];' for p in plan.pools]

    # One load balancer holds the VIP at a time; each forwards the API port to every control plane.
    lines += [f'  "vip" -> "{lb.name}" [id="vrrp-{lb.name}", style=dashed, arrowhead=none{api_off}];' for lb in api.load_balancers]
    if control_planes:
        middle = control_planes[len(control_planes) // 2].name
        lines += [f'  "{lb.name}" -> "{middle}" [id="api-{lb.name}", lhead=cluster_control_planes, color="#8aa4c8",'
                  f' fontcolor="#5b7fb3", label=":{api.port}"{api_off}];' for lb in api.load_balancers]

    lines += [f'  "{router.name}" -> "{n.name}" [id="bgp-{n.name}", color="{BGP_COLOR}", fontcolor="{BGP_COLOR}", label="BGP"{edge_off}];'
              for n in bgp.neighbors]

    for peer in wg.peers:
        allowed = "".join(f"<BR/>{network}" for network in peer.allowed_ips[1:])
        lines.append(f'  "wg-{peer.name}" [id="wg-{peer.name}", style="rounded,dashed",'
                     f' label={_html(f"<B>{escape(peer.name)}</B><BR/>{peer.allowed_ips[0].network_address}{allowed}")}];')
        lines.append(f'  "wg-{peer.name}" -> "{router.name}" [id="tunnel-{peer.name}", dir=both, color="{WIREGUARD_COLOR}",'
                     f' fontcolor="{WIREGUARD_COLOR}", penwidth=1.5, label="WireGuard"{edge_off}];')
    peers = sorted(cluster_peers)
    if peers:
        names = escape(", ".join(peers))
        lines.append(f'  "wg-cluster-peers" [id="wg-cluster-peers", shape=note, style=dashed,'
                     f' label={_html(f"<B>cluster peers: {names}</B><BR/>see wireguard.clusterPeers")}];')
        lines.append(f'  "wg-cluster-peers" -> "{router.name}" [id="tunnel-cluster-peers", dir=both, style=dashed,'
                     f' color="{WIREGUARD_COLOR}", fontcolor="{WIREGUARD_COLOR}", label="WireGuard"{edge_off}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _title(plan: Plan, on: dict[str, bool]) -> str:
    layers = ", ".join(f"{name} {'on' if value else 'OFF'}" for name, value in on.items())
    return f"<B>{escape(plan.stack)} · zone {escape(plan.zone)} · layers: {layers}</B>"


def _vm(machine: Machine, *details: str) -> str:
    """A VM: its name, then what it is; the router's addresses are on its NIC edges, everyone else's here."""
    lines = [f"<B>{escape(machine.name)}</B>", *(escape(d) for d in details)]
    if machine.role != "router":
        lines += [str(nic.address.ip) for nic in machine.nics]
    return (f'    "{machine.name}" [id="vm-{machine.name}", fillcolor="{ROLE_COLORS[machine.role]}",'
            f' label={_html("<BR/>".join(lines))}];')


def _gateway(plan: Plan, pool: str) -> str:
    """The add-ons layer's Gateway of the pool named `pool` (global or private) as a label line; none with the layer off."""
    a = plan.addons
    address = a and (a.global_gateway if pool == "global" else a.private_gateway)
    return f"<BR/>Gateway {escape(pool)}: {address}" if address else ""


def _pool(pool: Pool, gateway: str) -> str:
    addresses = "".join(f"<BR/>{escape(a)}" for a in pool.addresses) + gateway
    return (f'    "pool-{pool.name}" [id="pool-{pool.name}", shape=folder, style=filled, fillcolor="#f3ecfa",'
            f' label={_html(f"<B>MetalLB pool {escape(pool.name)}</B>{addresses}")}];')


def _same_rank(names: Sequence[str]) -> list[str]:
    return ["  {rank=same; " + " ".join(f'"{n}";' for n in names) + "}"] if len(names) > 1 else []


def _top_to_bottom(names: Sequence[str]) -> list[str]:
    """One column in name order, first on top (in a left-to-right layout a flat edge's head goes above its tail).
    Only where needed: flat edges also widen the gaps between the nodes they join."""
    return _same_rank(names) + [f'  "{below}" -> "{above}" [style=invis];' for above, below in zip(names, names[1:])]


def _html(markup: str) -> str:
    """A Graphviz HTML-like label; every value put into the markup above is escaped or an address.

    A line is all bold or all plain: Graphviz writes each font change as its own SVG text element,
    placed by its own font measure, and a viewer with other fonts runs the parts into each other."""
    return f"<{markup}>"
