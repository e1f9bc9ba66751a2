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
    assert plan.machine("router").disk_source.upload_file == "images/vyos-1.4-sakura.qcow2"
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
