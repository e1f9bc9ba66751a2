"""What `pulumi preview` of an existing stack shows for ordinary changes (the model in preview_model.py)."""

from __future__ import annotations

import pytest

from components.offline import load_stack

from .conftest import write_stack
from .preview_model import preview

K = "contest-k8s:"
NODES = ("router", "lb-1", "lb-2", "cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3")


def _preview(stack_runs, tmp_path, stack: str, edit=None, **model):
    loaded, raw, secret_keys = load_stack(stack, write_stack(tmp_path, stack, edit) if edit else None)
    return preview(stack_runs[stack], loaded, raw, secret_keys, **model)


def _kept(result) -> None:
    """Nothing that holds a node or its data is replaced, and no node leaves the cluster."""
    replaced = result.names("replace") | result.names("delete")
    assert not replaced & set(NODES), replaced
    assert not {n for n in replaced if n.endswith(("-boot", "-data", "-join", "-membership", "-prepare"))}, replaced


@pytest.mark.parametrize("stack", ["prd", "dev"])
def test_nothing_changed_previews_nothing(stack_runs, tmp_path, stack):
    result = _preview(stack_runs, tmp_path, stack)
    assert set(result.steps.values()) == {"same"}, {n: s for n, s in result.steps.items() if s != "same"}


def test_a_bandwidth_change_previews_one_update(stack_runs, tmp_path):
    result = _preview(stack_runs, tmp_path, "prd", lambda c: c[K + "network"].update(bandwidthMbps=250))
    assert result.names("update") == {"router-switch"} and not result.names("replace")


@pytest.mark.parametrize("role, nodes", [("workers", ("worker-1", "worker-2", "worker-3")), ("controlPlanes", ("cp-1", "cp-2", "cp-3")),
                                         ("apiLoadBalancer", ("lb-1", "lb-2"))])
def test_a_resize_previews_the_sizes_and_their_drains_and_gates_only(stack_runs, tmp_path, role, nodes):
    """The servers keep the size they were made with; each node's ServerSize, drain and gate update, nothing else."""
    result = _preview(stack_runs, tmp_path, "dev", lambda c: c[K + role]["size"].update(cpu=12, memoryGb=48))
    assert result.names("update") == {f"{n}-{step}" for n in nodes for step in ("drain", "size", "ready")}
    assert not result.names("replace") and not result.names("create") and not result.names("delete")


def test_an_added_operator_key_updates_one_command_per_vm(stack_runs, tmp_path):
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJpH4aQvSnVuvbT6Jvn2XzvsQvKu1kQxVbV9x+BvGSUr alice@venue"
    result = _preview(stack_runs, tmp_path, "prd", lambda c: c.update({K + "ssh": {"authorizedKeys": [key]}}))
    _kept(result)
    updated = result.names("update")
    assert {f"{n}-ssh-keys" for n in NODES if n != "router"} <= updated
    assert updated - {f"{n}-ssh-keys" for n in NODES} <= {f"{n}-boot" for n in NODES}, updated
    assert not result.names("replace") and not result.names("create")


def test_a_code_change_that_adds_a_tag_or_a_description_updates_only_the_sakura_objects(stack_runs, tmp_path, monkeypatch):
    from components.sakura import provider

    loaded, raw, secret_keys = load_stack("dev")
    original = provider.Common.inputs
    monkeypatch.setattr(provider.Common, "inputs", lambda self, name, description: {
        **original(self, name, description + " (v2)"), "tags": [*self.tags, "team=infra"]})
    result = preview(stack_runs["dev"], loaded, raw, secret_keys)
    _kept(result)
    sakura = {r.name for r in stack_runs["dev"].resources if r.type.startswith("contest-k8s:sakura:")
              and r.type not in ("contest-k8s:sakura:SshKey", "contest-k8s:sakura:ServerSize", "contest-k8s:sakura:DiskEdit")}  # no tags
    assert result.names("update") == sakura and not result.names("replace")


def test_adding_worker_4_previews_only_its_own_resources_the_router_bgp_its_osd_and_the_readiness_gate(stack_runs, tmp_path):
    result = _preview(stack_runs, tmp_path, "prd", lambda c: c[K + "workers"]["nodes"].update({"worker-4": 14}))
    assert result.names("update") == {"router-bgp", "rook-ceph-cluster", "nodes-ready"} and not result.names("replace") and not result.names("delete")
    assert all(name.startswith("worker-4") for name in result.names("create")), result.names("create")


def test_the_old_dynamic_providers_previewed_the_cluster_torn_down(stack_runs, tmp_path):
    """The model shown on the design it replaced: providers without preview hand back only their inputs."""
    result = _preview(stack_runs, tmp_path, "dev", lambda c: c[K + "network"].update(bandwidthMbps=250), dynamic_providers=True)
    replaced = result.names("replace")
    # Every VM on the router's switch (its ID unknown) and everything on them, including the leave scripts.
    assert len(replaced) > 40 and {"router", "lb-1", "cp-1", "cp-2", "cp-1-join", "cp-2-membership"} <= replaced
    print(f"\nbandwidth change in dev, old design: {len(replaced)} replacements; now: 0")
