"""The VM layer: its graph under mocks for every stack, and one full create against the fake API."""

from __future__ import annotations

from collections import Counter
from graphlib import TopologicalSorter

import pytest

from components.mocking import fake_random_bytes, fake_sakura_id
from components.offline import ProgramRun
from components.provider_plugin import RESOURCE_TYPES

from .conftest import STACKS
from .fake_sakura import FakeSakura
from .test_sakura_providers import FAST
from components.sakura.provider import ProviderConfig

SAKURA = "contest-k8s:sakura:"
SIZES = {"router": (4, 8, 40), "lb": (4, 8, 40), "cp": (4, 8, 100), "worker": (8, 32, 250)}


def sakura(run: ProgramRun, kind: str):
    return {r.name: r for r in run.of_type(f"contest-k8s:sakura:{kind}")}


@pytest.mark.parametrize("stack", STACKS)
def test_vm_layer_counts_sizes_nics_tags_and_protection(stack_runs, stack):
    run = stack_runs[stack]
    servers, disks = sakura(run, "Server"), sakura(run, "Disk")
    assert sorted(servers) == ["cp-1", "cp-2", "cp-3", "lb-1", "lb-2", "router", "worker-1", "worker-2", "worker-3"]
    assert sorted(disks) == sorted([f"{n}-boot" for n in servers] + [f"worker-{i}-data" for i in (1, 2, 3)])
    assert len(sakura(run, "Switch")) == 1 and len(sakura(run, "RouterSwitch")) == 1 and len(sakura(run, "SshKey")) == 1
    assert not sakura(run, "Archive") and not sakura(run, "SeedIso"), "the frr router needs no image of its own"
    edits = sakura(run, "DiskEdit")
    assert sorted(edits) == sorted(f"{n}-boot-edit" for n in servers)
    filters = sakura(run, "PacketFilter")
    assert sorted(filters) == ["api-lb-filter", "control-plane-filter", "router-filter"]
    filter_ids = {role: fake_sakura_id(stack, SAKURA + "PacketFilter", f"{role}-filter") for role in ("router", "api-lb", "control-plane")}

    router_switch_id = fake_sakura_id(stack, SAKURA + "RouterSwitch", "router-switch", "switch")
    private_switch_id = fake_sakura_id(stack, SAKURA + "Switch", "private-switch")
    for name, server in servers.items():
        role = name.split("-")[0]
        cpu, memory, disk = SIZES[role]
        assert (server.inputs["cpu"], server.inputs["memoryGb"]) == (cpu, memory), name
        boot = disks[f"{name}-boot"]
        assert boot.inputs["sizeGb"] == disk and boot.inputs["planId"] == 4
        expected_nics = {"router": [router_switch_id, private_switch_id], "worker": [private_switch_id]}.get(role, [router_switch_id])
        assert server.inputs["nics"] == expected_nics, name
        disk_ids = [fake_sakura_id(stack, SAKURA + "Disk", f"{name}-boot")]
        if role == "worker":
            disk_ids.append(fake_sakura_id(stack, SAKURA + "Disk", f"{name}-data"))
            assert disks[f"{name}-data"].inputs["sizeGb"] == 250 and disks[f"{name}-data"].inputs["source"] == {}
        assert server.inputs["diskIds"] == disk_ids, name
        role_name = {"router": "router", "lb": "api-lb", "cp": "control-plane", "worker": "worker"}[role]
        expected_filters = {"router": [filter_ids["router"], ""], "worker": [""]}.get(role, [filter_ids.get(role_name, "")])
        assert server.inputs["packetFilterIds"] == expected_filters, name
        role_tag = {"router": "role=router", "lb": "role=api-lb", "cp": "role=control-plane", "worker": "role=worker"}[role]
        owner = f"owner={fake_random_bytes(stack, 'state-owner', 8).hex()}"
        for resource in [server, boot]:
            assert {"contest-k8s", f"stack={stack}", f"node={name}", role_tag, owner} <= set(resource.inputs["tags"])
        assert server.inputs["name"] == f"{stack}-{name}" and server.inputs["zone"] == "is1b"
        edit = edits[f"{name}-boot-edit"]
        assert edit.inputs["diskId"] == disk_ids[0] and edit.inputs["madeWithEdit"] is False
        assert edit.inputs["parameters"]["hostName"] == name and edit.inputs["parameters"]["disablePasswordAuth"] is True
        assert "parameters.password" in edit.secret_inputs and len(edit.inputs["parameters"]["password"]) == 32
        assert edit.urn in server.depends_on, f"{name} boots only from its edited disk"
        assert "edit" not in boot.inputs, "the copy carries no disk edit"
        assert run.named("router-switch").urn not in boot.depends_on, "a disk's copy does not wait for the router's block"
        assert server.parent.endswith("ClusterMachines::machines")

    protected = {r.name for r in run.resources if r.protect}
    stateful = set(disks) | {"router-switch"} | {"rook-ceph", "rook-ceph-cluster"}  # the Ceph releases (add-ons layer) hold data too
    assert protected == (stateful if stack == "prd" else set())
    assert disks["worker-1-boot"].inputs["source"] == {"osTag": "ubuntu-24.04-latest"}
    assert edits["cp-2-boot-edit"].inputs["parameters"]["ipAddress"] is not None


def test_the_vyos_router_boots_from_its_image_and_a_cloud_init_seed(vyos_runs):
    """No disk edit on a VyOS image: its first boot reads the seed ISO the program uploads and inserts."""
    run = vyos_runs["prd"]
    boot, server = run.named("router-boot", "sakura:Disk"), run.named("router", "sakura:Server")
    seed = run.named("router-seed", "sakura:SeedIso")
    assert "edit" not in boot.inputs and not [r for r in run.resources if r.name == "router-boot-edit"]
    assert boot.inputs["source"] == {"archiveId": fake_sakura_id("prd", SAKURA + "Archive", "router-image")}
    assert server.inputs["cdromId"] == fake_sakura_id("prd", SAKURA + "SeedIso", "router-seed")
    assert set(seed.inputs["files"]) == {"user-data", "meta-data"} and seed.inputs["files"]["user-data"].startswith("#cloud-config\n")
    assert seed.inputs["files"]["user-data"] == run.artifact("router/router/seed/user-data")
    assert not [r for r in run.resources if r.name == "worker-1-seed"]


def test_node_resources_depend_only_on_what_they_use(stack_runs):
    run = stack_runs["dev"]
    for worker in ("worker-1", "worker-2"):
        server = run.named(worker, "sakura:Server")
        assert {run.by_urn(u).name for u in server.depends_on} == {f"{worker}-boot", f"{worker}-boot-edit", f"{worker}-data",
                                                                   "private-switch", "state-owner"}
        boot = run.named(f"{worker}-boot", "sakura:Disk")
        assert {run.by_urn(u).name for u in boot.depends_on} == {"state-owner"}, "the copy starts with the stack"


def test_every_vm_is_created_at_once_and_sized_by_its_own_resource(stack_runs):
    """Day one makes every VM at the same time: no Server waits for another. A later size change is the
    ServerSize's, which the layers chain (tests/test_kubernetes_layer.py: each waits for the gate before it)."""
    run = stack_runs["prd"]
    servers = {r.urn for r in run.of_type("sakura:Server")}
    assert len(servers) == 9
    for server in run.of_type("sakura:Server"):
        assert not servers & set(server.depends_on), server.name
        size = run.named(f"{server.name}-size", "sakura:ServerSize")
        assert size.inputs["serverId"] == server.id and (size.inputs["cpu"], size.inputs["memoryGb"]) == (server.inputs["cpu"], server.inputs["memoryGb"])


def _create_vm_layer(run: ProgramRun, fake: FakeSakura, image) -> dict[str, dict]:
    """Create every Sakura resource of a recorded graph in dependency order, as the engine would."""
    config = ProviderConfig(api_root_url=fake.root_url, settings=FAST)
    types = {cls.token: cls(config) for cls in RESOURCE_TYPES}
    resources = {r.urn: r for r in run.resources if r.type.startswith(SAKURA)}
    order = TopologicalSorter({u: [d for d in r.depends_on if d in resources] for u, r in resources.items()}).static_order()
    real: dict[str, str] = {}

    def swap(value):
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return real.get(value, value) if isinstance(value, str) else value

    created = {}
    for urn in order:
        r = resources[urn]
        kind = r.short_type
        inputs = swap(r.inputs)
        if kind == "Archive":
            inputs["file"] = str(image)
        _, outs = types[r.type].create(inputs)
        if kind == "DiskEdit":
            continue
        real[fake_sakura_id(run.stack, r.type, r.name)] = outs["sakuraId"]
        if kind == "RouterSwitch":
            real[fake_sakura_id(run.stack, r.type, r.name, "switch")] = outs["switchId"]
        created[r.name] = outs
    return created


def test_one_full_vm_layer_create_against_the_fake_api(stack_runs, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SAKURACLOUD_ACCESS_TOKEN", "fake-token")
    monkeypatch.setenv("SAKURACLOUD_ACCESS_TOKEN_SECRET", "fake-secret")
    monkeypatch.setattr("components.sakura.archive.ftps_upload", lambda server, name, stream: None)
    image = tmp_path / "vyos.qcow2"
    image.write_bytes(b"image")
    # Async work completes at once, so every wait is one GET: the count is the fixed cost of a create.
    # (For real, each wait also polls every 5 s while a disk copies or a server boots.)
    with FakeSakura(copy_seconds=0, power_seconds=0) as fake:
        created = _create_vm_layer(stack_runs["prd"], fake, image)
        servers = fake.objects("is1b", "server")
        assert len(servers) == 9 and all(s["Instance"]["Status"] == "up" for s in servers.values())
        assert fake.count("disk") == 12 and fake.count("switch") == 2 and fake.count("internet") == 1
        router = next(s for s in servers.values() if s["Name"] == "prd-router")
        router_switch = fake.objects("is1b", "internet")[created["router-switch"]["sakuraId"]]["Switch"]["ID"]
        assert [n["Switch"]["ID"] for n in router["Interfaces"]] == [router_switch, int(created["private-switch"]["sakuraId"])]
        first_boots = {s["Name"]: s["_first_boot"] for s in servers.values()}
        assert all(disks[0]["edited"] and all(d["Availability"] == "available" for d in disks) for disks in first_boots.values()), \
            "every VM first boots from its edited boot disk"
        by_method = Counter(m for m, _ in fake.log)
        by_resource = Counter(p.split("/")[0] for _, p in fake.log)
        calls = len(fake.log)
        # Second run of the same creates: everything is adopted by its tags, nothing new appears.
        _create_vm_layer(stack_runs["prd"], fake, image)
        assert fake.calls("POST") == by_method["POST"], "the second pass created something"
        assert len(fake.objects("is1b", "server")) == 9 and fake.count("disk") == 12 and fake.count("switch") == 2
    with capsys.disabled():
        print(f"\nfull prd VM layer create: {calls} API calls {dict(sorted(by_method.items()))} "
              f"by resource {dict(sorted(by_resource.items()))}")
    assert calls < 200
