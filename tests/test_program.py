"""The whole program under mocks, per stack: the graph the harness records is the one `pulumi up` builds."""

from __future__ import annotations

import pytest

from components.offline import ProgramRun

from .conftest import STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_has_a_stable_unique_name_and_a_parent(stack_runs, stack):
    run: ProgramRun = stack_runs[stack]
    urns = [r.urn for r in run.resources]
    assert len(urns) == len(set(urns))
    known = set(urns)
    for r in run.resources:
        assert r.parent.endswith("::pulumi:pulumi:Stack::contest-k8s-" + stack) or r.parent in known, r.urn
        assert all(d in known for d in r.depends_on), r.urn


@pytest.mark.parametrize("stack", STACKS)
def test_two_runs_record_the_same_graph(program, stack_runs, stack):
    again = program(stack)
    first = stack_runs[stack]
    def graph(run: ProgramRun) -> dict:
        return {r.urn: (r.inputs, r.depends_on, r.protect) for r in run.resources}

    assert graph(again) == graph(first)
    assert again.outputs == first.outputs


@pytest.mark.parametrize("stack", STACKS)
def test_secret_outputs_are_marked_secret(stack_runs, stack):
    run = stack_runs[stack]
    assert "sshPrivateKey" in run.secret_outputs
    assert "BEGIN OPENSSH PRIVATE KEY" in run.outputs["sshPrivateKey"]
    plain = {k: v for k, v in run.outputs.items() if k not in run.secret_outputs}
    assert "PRIVATE KEY" not in repr(plain)


def test_layers_switched_off_stop_after_the_vms(program, tmp_path):
    """The sandbox zone's VMs never boot: nothing may try to reach them over SSH."""
    from .conftest import write_stack

    path = write_stack(tmp_path, "dev", lambda c: c.update({"contest-k8s:zone": "tk1v", "contest-k8s:layers": {
        "edge": False, "apiLoadBalancer": False, "kubernetes": False}}))
    run = program("dev", path)
    assert {r.type.rsplit(":", 1)[-1] for r in run.resources} == {
        "contest-k8s", "DayOneSettings", "RandomId", "ClusterMachines", "RouterSwitch", "Switch", "SshKey", "PacketFilter", "Disk", "DiskEdit", "Server",
        "ServerSize", "PrivateKey", "RandomPassword"}
    # With no layer to drain and gate them, sizes chain directly: one VM of a role at a time, never two at once.
    size_deps = {r.name: {run.by_urn(u).name for u in r.depends_on if run.by_urn(u).type.endswith("ServerSize")}
                 for r in run.of_type("sakura:ServerSize")}
    assert size_deps == {"router-size": set(), "lb-1-size": set(), "lb-2-size": {"lb-1-size"}, "cp-1-size": set(),
                         "cp-2-size": {"cp-1-size"}, "cp-3-size": {"cp-2-size"}, "worker-1-size": set(), "worker-2-size": {"worker-1-size"},
                         "worker-3-size": {"worker-2-size"}}
    assert [a.path for a, _ in run.artifacts] == ["firewall/nodes.nft", "sakura/inventory.json", "sakura/packet-filters.json", "topology.svg"]  # the VMs and their picture
    assert set(run.outputs) == {"routerBlock", "nodes", "sshPrivateKey"}


def test_api_endpoint_without_the_edge_layer(program, tmp_path):
    from .conftest import write_stack

    path = write_stack(tmp_path, "dev", lambda c: c.update({"contest-k8s:layers": {"edge": False, "kubernetes": False}}))
    run = program("dev", path)
    commands = sorted(r.name for r in run.of_type("remote:Command"))
    assert commands == ["lb-1-api-lb", "lb-1-drain", "lb-1-host-key", "lb-1-ready", "lb-1-ssh-keys", "lb-1-sudo", "lb-2-api-lb",
                        "lb-2-drain", "lb-2-host-key", "lb-2-ready", "lb-2-ssh-keys", "lb-2-sudo"]
    names = {r.urn: r.name for r in run.resources}
    deps = {r.name: {names[u] for u in r.depends_on} for r in run.resources if r.name.startswith(("lb-", "cp-")) and r.custom}
    assert "lb-1-ready" in deps["lb-2-size"] and "lb-1-ready" in deps["lb-2-drain"] and "lb-2-drain" in deps["lb-2-size"]
    assert "cp-1-size" in deps["cp-2-size"], "the kubernetes layer is off: control-plane sizes chain directly"
