"""Sakura packet filters from the plan: the API's expression list, and the reviewable file of every filter.

One filter per role on the router's switch (router, load balancers, control planes), attached to
each such VM's NIC there. The rules come from `plan.packet_filter_rules`; this module only writes
them in Sakura's form (`Protocol`, `SourceNetwork`, `SourcePort`, `DestinationPort`, `Action`,
`Description`; an empty field matches anything).
"""

from __future__ import annotations

import json

from ..plan import FilterRule, Plan


def sakura_expression(rules: tuple[FilterRule, ...]) -> list[dict]:
    return [{
        "Protocol": r.protocol,
        "SourceNetwork": str(r.source) if r.source else "",
        "SourcePort": r.source_port or "",
        "DestinationPort": r.destination_port or "",
        "Action": "allow" if r.allow else "deny",
        "Description": r.description,
    } for r in rules]


def packet_filters_json(plan: Plan) -> str:
    """Every filter of the stack, for review: role -> rules in order."""
    document = {role: sakura_expression(rules) for role, rules in plan.access.filters}
    return json.dumps(document, indent=2) + "\n"
