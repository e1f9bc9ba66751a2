"""Sakura's packet filter semantics, emulated with nftables for the namespace tests.

A Sakura filter applies to packets arriving at a NIC: rules in order, the first that matches decides,
no connection state. Here that is an nftables `netdev` ingress chain on the NIC, which sees every
frame before the host does and keeps no state either: each rule becomes one `accept` or `drop`, and
only IPv4 is filtered (ARP passes, as it does on Sakura's switches).
"""

from __future__ import annotations


def _rule(rule: dict) -> str:
    match = []
    protocol = rule["Protocol"]
    if rule["SourceNetwork"]:
        match.append(f"ip saddr {rule['SourceNetwork']}")
    if protocol in ("tcp", "udp"):
        match.append(f"ip protocol {protocol}")
        if rule["SourcePort"]:
            match.append(f"{protocol} sport {rule['SourcePort']}")
        if rule["DestinationPort"]:
            match.append(f"{protocol} dport {rule['DestinationPort']}")
    elif protocol == "icmp":
        match.append("ip protocol icmp")
    elif protocol == "fragment":
        match.append("ip frag-off & 0x1fff != 0")
    elif protocol != "ip":
        raise ValueError(f"protocol {protocol} is not emulated")
    verdict = "accept" if rule["Action"] == "allow" else "drop"
    return f"        meta protocol ip {' '.join(match)} {verdict}".replace("  ", " ")


def packet_filter_nft(rules: list[dict], device: str) -> str:
    lines = "\n".join(_rule(rule) for rule in rules)
    return f"""\
table netdev sakura_packet_filter {{
    chain ingress {{
        type filter hook ingress device "{device}" priority 0; policy accept;
{lines}
    }}
}}
"""
