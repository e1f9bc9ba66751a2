"""The edge router's own firewall, one rule list for both flavors (nftables for frr, `set firewall` for VyOS).

Stateful, default drop, on traffic to the router (input) and through it (forward); the router's
packet filter says the same statelessly on its outside NIC. Accepted:
- replies (established, related), loopback, ICMP;
- everything from the private switch and the WireGuard tunnel (the cluster's inside and the venue);
- everything from the router's block (the cluster's own VMs on the router's switch);
- SSH to the router from the operators' networks, WireGuard from anywhere (it authenticates itself);
- through the router: the MetalLB global pool's public TCP ports from anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from ..plan import WIREGUARD_INTERFACE, Plan


@dataclass(frozen=True)
class RouterRule:
    description: str
    interface: Optional[str] = None  # inbound interface
    source: Optional[str] = None
    destination: Optional[str] = None
    protocol: Optional[Literal["tcp", "udp", "icmp"]] = None
    ports: tuple[int, ...] = ()  # destination ports
    established: bool = False


def router_rules(plan: Plan) -> dict[str, tuple[RouterRule, ...]]:
    """Chain ("input", "forward") -> its accept rules, in order; anything else is dropped."""
    inside = plan.machine(plan.router.name).nics[1].interface
    access = plan.access
    common = [
        RouterRule("replies", established=True),
        RouterRule("ICMP", protocol="icmp"),
        RouterRule("the private switch", interface=inside),
        RouterRule("the WireGuard tunnel", interface=WIREGUARD_INTERFACE),
        RouterRule("this cluster: VMs on the router switch", source=str(plan.global_block.network)),
    ]
    given = [
        *[RouterRule("SSH from operators", source=str(n), protocol="tcp", ports=(22,)) for n in access.operator_networks],
        RouterRule("WireGuard", protocol="udp", ports=(access.wireguard_port,)),
    ]
    through = [RouterRule("MetalLB global pool", destination=str(n), protocol="tcp", ports=access.public_tcp_ports)
               for n in plan.pool("global").networks]
    return {"input": (RouterRule("loopback", interface="lo"), *common, *given), "forward": (*common, *through)}
