"""The plan: addresses, roles and identities computed from config and the router's block."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv4Network

import pytest

from components.config import PROJECT
from components.offline import load_stack
from components.plan import GlobalBlock, PlanError, build_plan

from .conftest import write_stack

BLOCK = GlobalBlock.assumed(IPv4Network("203.0.113.0/27"))


def plan_for(stack="prd", config_file=None, block=BLOCK):
    loaded, _, _ = load_stack(stack, config_file)
    return build_plan(loaded, block)


def test_every_vm_has_its_role_nics_and_addresses():
    plan = plan_for()
    roles = {m.name: m.role for m in plan.machines}
    assert roles == {"router": "router", "lb-1": "api-lb", "lb-2": "api-lb", "cp-1": "control-plane", "cp-2": "control-plane",
                     "cp-3": "control-plane", "worker-1": "worker", "worker-2": "worker", "worker-3": "worker"}
    router = plan.machine("router")
    assert [(n.segment, str(n.address)) for n in router.nics] == [("global", "203.0.113.10/27"), ("private", "10.1.0.1/24")]
    assert [str(m.address) for m in plan.machines_with_role("control-plane")] == ["203.0.113.7", "203.0.113.8", "203.0.113.9"]
    worker = plan.machine("worker-2")
    assert [(n.segment, str(n.address), str(n.gateway)) for n in worker.nics] == [("private", "10.1.0.12/24", "10.1.0.1")]
    assert plan.machine("lb-1").nics[0].gateway == IPv4Address("203.0.113.1")
    assert worker.data_disk_gb == 250 and plan.machine("cp-1").data_disk_gb is None
    assert plan.machine("router").disk_source.os_tag == "ubuntu-24.04-latest", "the frr router: Ubuntu from the public archive"
    assert plan.machine("cp-1").disk_source.os_tag == "ubuntu-24.04-latest"


def test_api_endpoint_pools_bgp_and_wireguard():
    plan = plan_for()
    assert plan.api.endpoint == "203.0.113.6:6443"
    assert [(lb.name, lb.priority) for lb in plan.api.load_balancers] == [("lb-1", 150), ("lb-2", 140)]
    assert [cp.name for cp in plan.api.control_planes] == ["cp-1", "cp-2", "cp-3"]
    assert plan.pool("global").addresses == ("203.0.113.16-203.0.113.30",)
    covered = {a for n in plan.pool("global").networks for a in n}
    assert covered == {IPv4Address("203.0.113.16") + i for i in range(15)}
    assert plan.pool("private").networks == (IPv4Network("10.1.1.0/24"),)
    assert (plan.bgp.router_asn, plan.bgp.speaker_asn, str(plan.bgp.router_address)) == (65020, 65021, "10.1.0.1")
    assert [(n.name, str(n.address)) for n in plan.bgp.neighbors] == [("worker-1", "10.1.0.11"), ("worker-2", "10.1.0.12"),
                                                                      ("worker-3", "10.1.0.13")]
    wg = plan.wireguard
    assert (str(wg.address), wg.listen_port, str(wg.endpoint_host)) == ("10.255.0.11/24", 51820, "203.0.113.10")
    assert wg.routed_prefixes == (IPv4Network("10.1.0.0/24"), IPv4Network("10.1.1.0/24"))
    assert [str(a) for a in wg.peers[0].allowed_ips] == ["10.255.0.1/32", "172.16.0.0/16"]
    assert plan.kubernetes.bootstrap_node == "cp-1" and plan.kubernetes.control_planes == ("cp-1", "cp-2", "cp-3")
    assert plan.kubernetes.certificate_sans == ("203.0.113.6", "203.0.113.4", "203.0.113.5")
    assert IPv4Network("10.1.0.0/24") in plan.routes_via_router and IPv4Network("172.16.0.0/16") in plan.routes_via_router
    assert plan.router.snat_exempt_destinations == (IPv4Network("203.0.113.0/27"),)


def test_adding_worker_4_changes_nothing_about_the_others(tmp_path):
    before = plan_for()
    path = write_stack(tmp_path, "prd", lambda c: c[PROJECT + ":workers"]["nodes"].update({"worker-4": 14}))
    after = plan_for(config_file=path)
    assert [m for m in after.machines if m.name != "worker-4"] == list(before.machines)
    assert after.machine("worker-4").nics[0].address.ip == IPv4Address("10.1.0.14")
    assert after.bgp.neighbors[:3] == before.bgp.neighbors and after.bgp.neighbors[3].name == "worker-4"
    assert dataclasses.replace(after.kubernetes, workers=before.kubernetes.workers) == before.kubernetes


def test_identity_is_by_name_not_position(tmp_path):
    """Listing workers in another order, or with gaps in names, gives each the same machine."""
    path = write_stack(tmp_path, "prd", lambda c: c[PROJECT + ":workers"].update(nodes={"worker-10": 20, "worker-3": 13, "worker-9": 19}))
    plan = plan_for(config_file=path)
    assert [m.name for m in plan.machines_with_role("worker")] == ["worker-3", "worker-9", "worker-10"]
    assert plan.machine("worker-3").address == IPv4Address("10.1.0.13")


def test_a_smaller_usable_range_from_sakura_is_a_clear_error():
    block = GlobalBlock(IPv4Network("203.0.113.0/27"), IPv4Address("203.0.113.1"), IPv4Address("203.0.113.8"),
                        IPv4Address("203.0.113.30"))
    with pytest.raises(PlanError, match=r"contest-k8s:apiLoadBalancer.nodes.lb-1: host 4 is 203.0.113.4, outside the usable range 203.0.113.8-203.0.113.30"):
        plan_for(block=block)


def test_plan_is_deterministic():
    assert plan_for() == plan_for()


def _verdict(rules, protocol: str, source: str, destination_port: int | None = None, source_port: int | None = None) -> bool:
    """Sakura's evaluation of an inbound packet: the first rule that matches decides."""
    from ipaddress import ip_address

    def port_in(spec, port):
        if not spec:
            return True
        low, _, high = spec.partition("-")
        return port is not None and int(low) <= port <= int(high or low)

    for r in rules:
        if r.protocol not in ("ip", protocol) or (r.source and ip_address(source) not in r.source):
            continue
        if r.protocol in ("tcp", "udp") and not (port_in(r.destination_port, destination_port) and port_in(r.source_port, source_port)):
            continue
        return r.allow
    return True


def test_packet_filters_admit_operators_the_cluster_and_replies_only():
    loaded, _, _ = load_stack("prd")
    plan = build_plan(loaded, GlobalBlock.assumed(IPv4Network("192.0.2.0/27")))
    lb, cp, router = (plan.access.filter(r) for r in ("api-lb", "control-plane", "router"))
    operator, internet, venue, worker = "203.0.113.70", "198.18.0.5", "172.16.0.5", "10.1.0.11"
    assert _verdict(lb, "tcp", operator, 22) and _verdict(lb, "tcp", operator, 6443) and _verdict(lb, "tcp", venue, 6443)
    assert not _verdict(lb, "tcp", internet, 6443) and not _verdict(lb, "tcp", internet, 22)
    assert not _verdict(cp, "tcp", operator, 6443), "the API is served on the VIP and the load balancers only"
    assert _verdict(cp, "tcp", worker, 6443) and _verdict(cp, "udp", worker, 8472) and not _verdict(cp, "udp", internet, 8472)
    assert _verdict(router, "udp", internet, 51820) and _verdict(router, "tcp", internet, 443) and not _verdict(router, "tcp", internet, 8080)
    assert _verdict(cp, "tcp", internet, 40000, 80), "a reply to a connection the VM opened"
    assert _verdict(cp, "udp", internet, 40000, 53) and not _verdict(cp, "udp", internet, 40000, 5353)
    assert not _verdict(cp, "tcp", internet, 10250) and not _verdict(cp, "tcp", internet, 2379)
    assert all(rules[-1].protocol == "ip" and not rules[-1].allow for _, rules in plan.access.filters)


def test_the_config_rule_counts_the_packet_filter_rules_the_plan_makes(tmp_path):
    """access: the config refuses exactly what would give a filter more than 30 rules (the plan's own count)."""
    from components.config import MAX_FILTER_RULES, ConfigError

    loaded = load_stack("prd")[0]

    def plan_rules(operators: int) -> int:  # the plan's count, bypassing the config rule
        access = dataclasses.replace(loaded.config.access, operator_cidrs=tuple(IPv4Network(f"198.18.{i}.0/24") for i in range(operators)))
        plan = build_plan(dataclasses.replace(loaded, config=dataclasses.replace(loaded.config, access=access)),
                          GlobalBlock.assumed(IPv4Network("192.0.2.0/27")))
        return max(len(rules) for _, rules in plan.access.filters)

    def accepted(operators: int) -> bool:
        path = write_stack(tmp_path, "prd", lambda c: c["contest-k8s:access"].update(operatorCidrs=[f"198.18.{i}.0/24" for i in range(operators)]))
        try:
            load_stack("prd", path)
        except ConfigError:
            return False
        return True

    for operators in range(1, 16):
        assert accepted(operators) == (plan_rules(operators) <= MAX_FILTER_RULES), operators
    assert not accepted(15) and accepted(1)
