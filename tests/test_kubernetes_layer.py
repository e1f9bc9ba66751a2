"""The kubeadm layer: strict config schemas, the dependency graph, secrets, and changes after day one."""

from __future__ import annotations

import re
from graphlib import TopologicalSorter

import pytest
import yaml

from components.charts import CILIUM
from components.config import PROJECT
from components.mocking import fake_random_bytes
from components.offline import ProgramRun
from components.render.kubeadm import ca_cert_hash

from .checks.schemas import kubernetes_config_errors, unknown_helm_keys
from .conftest import STACKS, filled, require_shared, run_stack, write_stack

K = PROJECT + ":"


# --------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubeadm_kubelet_and_kube_proxy_document_is_valid(stack_runs, stack):
    schemas = require_shared() / "kubernetes"
    configs = [(a.path, text) for a, text in stack_runs[stack].artifacts if a.kind == "kubeadm"]
    assert sorted(p for p, _ in configs) == sorted(
        ["kubeadm/cp-1/init.yaml"] + [f"kubeadm/{n}/join.yaml" for n in ("cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3")])
    for path, text in configs:
        assert kubernetes_config_errors(filled(text), schemas) == [], path
    kinds = [d["kind"] for d in yaml.safe_load_all(dict(configs)["kubeadm/cp-1/init.yaml"]) if d]
    assert kinds == ["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"]


def test_schema_check_rejects_misspelled_keys(stack_runs):
    schemas = require_shared() / "kubernetes"
    init = filled(stack_runs["dev"].artifact("kubeadm/cp-1/init.yaml"))
    assert kubernetes_config_errors(init, schemas) == []
    for good, typo in (("controlPlaneEndpoint:", "controlPlaneEndPoint:"), ("cgroupDriver:", "cgroupDriverr:"),
                       ("clusterCIDR:", "clusterCidr:"), ("kubeletExtraArgs:", "kubeletExtraArg:")):
        errors = kubernetes_config_errors(init.replace(good, typo, 1), schemas)
        assert any(typo.rstrip(":") in e for e in errors), (typo, errors)
    join = filled(stack_runs["dev"].artifact("kubeadm/worker-1/join.yaml"))
    assert kubernetes_config_errors(join.replace("sha256:", "sha1:"), schemas), "a malformed CA pin must fail"
    assert kubernetes_config_errors(join.replace("abcdef.0123456789abcdef", "abcdef0123456789abcdef"), schemas)


def test_apiserver_tolerations_and_sans(stack_runs):
    docs = list(yaml.safe_load_all(filled(stack_runs["prd"].artifact("kubeadm/cp-1/init.yaml"))))
    cluster = next(d for d in docs if d and d["kind"] == "ClusterConfiguration")
    args = {a["name"]: a["value"] for a in cluster["apiServer"]["extraArgs"]}
    assert args["default-not-ready-toleration-seconds"] == "30" and args["default-unreachable-toleration-seconds"] == "30"
    vip = stack_runs["prd"].outputs["apiEndpoint"]
    assert cluster["controlPlaneEndpoint"] == vip and cluster["kubernetesVersion"] == "v1.36.3"
    nodes = stack_runs["prd"].outputs["nodes"]
    assert cluster["apiServer"]["certSANs"] == [vip.split(":")[0], nodes["lb-1"], nodes["lb-2"]]
    assert cluster["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12", "dnsDomain": "cluster.local"}


def test_tolerations_are_configurable(tmp_path):
    run = run_stack("dev", write_stack(tmp_path, "dev", lambda c: c[K + "kubernetes"].update(notReadyTolerationSeconds=45)))
    assert "default-not-ready-toleration-seconds\n    value: '45'" in run.artifact("kubeadm/cp-1/init.yaml")


@pytest.mark.parametrize("stack", STACKS)
def test_every_cilium_value_exists_in_the_chart_defaults(stack_runs, stack):
    upstream = require_shared() / "cilium"
    defaults = yaml.safe_load((upstream / "values.yaml").read_text())
    chart = yaml.safe_load((upstream / "Chart.yaml").read_text())
    entry = next(a for a, _ in stack_runs[stack].artifacts if a.path == "helm/cilium-values.yaml")
    assert (entry.chart, entry.version) == (chart["name"], chart["version"]) == ("cilium", CILIUM.version)
    values = yaml.safe_load(stack_runs[stack].artifact(entry.path))
    assert unknown_helm_keys(values, defaults) == []
    release = stack_runs[stack].named("cilium", "Release")
    assert release.inputs["values"] == values and release.inputs["version"] == CILIUM.version and release.inputs["chart"] == "cilium"
    assert "name" not in release.inputs, "auto-named, as the first clusters' Cilium: naming it would replace the CNI"
    joins = {r.name: r.urn for r in stack_runs[stack].of_type("remote:Command") if r.name.endswith("-join")}
    assert len(joins) == 6
    assert set(joins.values()) & set(release.depends_on) == {joins["cp-1-join"]}, \
        "Cilium comes once the bootstrap control plane answers, while the other nodes join"
    gate = stack_runs[stack].named("nodes-ready", "Command")
    assert {release.urn, *joins.values()} <= set(gate.depends_on), "every node Ready once Cilium is in and every node joined"
    assert all(f"{node} is Ready" in gate.inputs["stdin"] for node in ("cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3"))
    addons = stack_runs[stack].named("addons", "ClusterAddons")
    namespaces = [r for r in stack_runs[stack].resources if r.parent == addons.urn and r.name.startswith("namespace-")]
    assert namespaces and all(gate.urn in r.depends_on for r in namespaces), "the add-ons wait for every node Ready"
    assert unknown_helm_keys({**values, "kubeProxyReplacment": "false"}, defaults) == ["kubeProxyReplacment"]
    assert unknown_helm_keys({"ipam": {"mod": "kubernetes"}}, defaults) == ["ipam.mod"]


def test_cilium_comes_from_the_chart_source_and_version_the_stack_names(tmp_path):
    run = run_stack("dev", write_stack(tmp_path, "dev", lambda c: c.update(
        {K + "charts": {"source": "../shared/upstream/charts", "versions": {"cilium": "1.20.1"}}})))
    release = run.named("cilium", "Release")
    assert release.inputs["chart"] == "../shared/upstream/charts/cilium-1.20.1" and "repositoryOpts" not in release.inputs
    assert release.inputs["version"] == "1.20.1"
    assert next(a for a, _ in run.artifacts if a.chart == "cilium").version == "1.20.1"
    assert run.artifact("helm/cilium-values.yaml").startswith("# cilium 1.20.1 values for dev")


# --------------------------------------------------------------------------- graph


class Graph:
    def __init__(self, run: ProgramRun):
        self.run = run
        self.by_name = {}
        for r in run.resources:
            self.by_name.setdefault(r.name, r)
        self.deps = {r.urn: set(r.depends_on) for r in run.resources}

    def urn(self, name: str) -> str:
        return self.by_name[name].urn

    def reaches(self, source: str, target: str) -> bool:
        """True if `source` depends, directly or not, on `target`."""
        seen, stack = set(), [self.urn(source)]
        goal = self.urn(target)
        while stack:
            node = stack.pop()
            for dep in self.deps.get(node, ()):
                if dep == goal:
                    return True
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        return False

    def direct(self, source: str, target: str) -> bool:
        return self.urn(target) in self.deps[self.urn(source)]


@pytest.fixture(scope="module")
def prd_graph(stack_runs):
    return Graph(stack_runs["prd"])


def test_init_before_every_join(prd_graph):
    for node in ("cp-2", "cp-3", "worker-1", "worker-2", "worker-3"):
        assert prd_graph.reaches(f"{node}-join", "cp-1-join"), node
        assert prd_graph.direct(f"{node}-join", f"{node}-prepare") and prd_graph.direct(f"{node}-join", f"{node}-join-ticket")
    assert prd_graph.direct("cp-1-join", "cp-1-prepare")
    for prerequisite in ("router-config", "lb-1-api-lb", "lb-2-api-lb"):
        assert prd_graph.direct("cp-1-join", prerequisite), "init needs the VIP and the router"


def test_control_planes_join_strictly_one_at_a_time(prd_graph):
    assert prd_graph.direct("cp-3-join", "cp-2-join") and prd_graph.direct("cp-2-join", "cp-1-join")
    assert not prd_graph.reaches("cp-2-join", "cp-3-join")


def test_worker_joins_are_independent_of_each_other(prd_graph):
    workers = ("worker-1", "worker-2", "worker-3")
    for a in workers:
        for b in workers:
            if a != b:
                assert not prd_graph.reaches(f"{a}-join", f"{b}-join"), (a, b)
        assert not prd_graph.reaches(f"{a}-join", "cp-2-join"), "workers do not wait for the other control planes"
        assert prd_graph.reaches(f"{a}-prepare", "router-config"), "workers reach the internet and SSH through the router"
        assert prd_graph.direct(f"{a}-host-key", "router-config") and prd_graph.direct(f"{a}-sudo", f"{a}-host-key")
        assert prd_graph.direct(f"{a}-prepare", f"{a}-sudo")


def test_joins_pin_the_ca_computed_from_the_ca_certificate(stack_runs):
    run = stack_runs["prd"]
    ca_pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", run.artifact("scripts/cp-1/bootstrap.sh"), re.S).group(0)
    expected = ca_cert_hash(ca_pem)
    for node in ("cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3"):
        join = yaml.safe_load(run.artifact(f"kubeadm/{node}/join.yaml"))
        assert join["discovery"]["bootstrapToken"]["caCertHashes"] == [expected], node
        assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"] == run.outputs["apiEndpoint"]
        assert ("controlPlane" in join) == node.startswith("cp-")


def test_no_secret_in_a_plain_output_or_a_rendered_file(stack_runs):
    run = stack_runs["prd"]
    tokens = {node: (lambda t: f"{t[:6]}.{t[6:]}")(_fake_string("prd", f"{node}-join-token", 22))
              for node in ("cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3")}
    token = tokens["worker-1"]
    secrets = {
        **{f"bootstrap token of {node}": value for node, value in tokens.items()},
        "certificate key": fake_random_bytes("prd", "certificate-key", 32).hex(),
        "CA key": _stdin(run, "cp-1-join").split("ca.key 0600")[1].split("-----END PRIVATE KEY-----")[0].split("\n", 1)[1],
        "ssh key": run.outputs["sshPrivateKey"].splitlines()[1],
        "login password": run.named("cp-1-boot-edit", "sakura:DiskEdit").inputs["parameters"]["password"],
    }
    assert all(len(v) > 10 for v in secrets.values())
    plain_outputs = repr({k: v for k, v in run.outputs.items() if k not in run.secret_outputs})
    rendered = "".join(text for _, text in run.artifacts)
    for what, value in secrets.items():
        assert value not in plain_outputs, what
        assert value not in rendered, what
    assert {"kubeconfig", "sshPrivateKey"} <= run.secret_outputs
    kubeconfig = yaml.safe_load(run.outputs["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == f"https://{run.outputs['apiEndpoint']}"
    for name in ("cp-1-join", "cp-2-join", "worker-1-join", "worker-1-join-ticket", "worker-1-upgrade"):
        assert "stdin" in run.named(name, "Command").secret_inputs, name
    assert token in _stdin(run, "worker-1-join") and token in _stdin(run, "worker-1-join-ticket")
    assert tokens["worker-2"] not in _stdin(run, "worker-1-join"), "each node joins with a token of its own"
    assert "--ttl 1h" in run.artifact("scripts/worker-1/join-ticket.sh")
    assert "stdin" not in run.named("worker-1-prepare", "Command").secret_inputs, "no secret, so the preview shows the script"


def _stdin(run: ProgramRun, name: str) -> str:
    return run.named(name, "Command").inputs["stdin"]


def _fake_string(stack: str, name: str, length: int) -> str:
    from components.mocking import digest
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in (digest(stack, name, "string") * 4)[:length])


def test_node_commands_follow_their_vm(prd_graph):
    run = prd_graph.run
    server, disk = run.named("worker-2", "sakura:Server"), run.named("worker-2-boot", "sakura:Disk")
    assert server.delete_before_replace, "a replaced VM is deleted first, after its node left the cluster"
    from components.mocking import fake_sakura_id
    vm_ids = {fake_sakura_id("prd", server.type, "worker-2"), fake_sakura_id("prd", disk.type, "worker-2-boot")}
    live_id = fake_sakura_id("prd", server.type, "worker-2", "after a plan change")
    for suffix in ("host-key", "sudo", "prepare", "join", "membership", "upgrade"):
        command = run.named(f"worker-2-{suffix}", "Command")
        assert vm_ids <= set(command.inputs["triggers"]), suffix
        assert live_id not in command.inputs["triggers"], "a resize changes Sakura's ID but must not look like a new VM"
    for suffix in ("join", "membership"):
        assert run.named(f"worker-2-{suffix}", "Command").delete_before_replace, suffix


# --------------------------------------------------------------------------- changes after day one


def _graph_inputs(run: ProgramRun) -> dict[str, dict]:
    return {r.urn: {k: v for k, v in r.inputs.items() if k != "__provider"} for r in run.resources}


def test_adding_worker_4_changes_no_existing_node_resource(stack_runs, tmp_path):
    before = stack_runs["prd"]
    after = run_stack("prd", write_stack(tmp_path, "prd", lambda c: c[K + "workers"]["nodes"].update({"worker-4": 14})))
    old, new = _graph_inputs(before), _graph_inputs(after)
    changed = {before.by_urn(u).name for u in old if u in new and old[u] != new[u]}
    # The router lists every worker as a BGP neighbor: only its BGP part (no secret, shown in a preview) gains worker-4;
    # the Ceph cluster (add-ons layer) gains worker-4's OSD; the readiness gate waits for worker-4 too.
    assert changed == {"router-bgp", "rook-ceph-cluster", "nodes-ready"}
    assert set(old) <= set(new)
    added = {after.by_urn(u).name for u in set(new) - set(old)}
    assert added == {"worker-4-day-one", "worker-4", "worker-4-boot", "worker-4-boot-edit", "worker-4-data", "worker-4-host-key", "worker-4-sudo", "worker-4-ssh-keys", "worker-4-join-token", "worker-4-prepare", "worker-4-join-ticket",
                     "worker-4-join", "worker-4-membership", "worker-4-upgrade", "worker-4-drain", "worker-4-size", "worker-4-ready"}
    assert " neighbor 10.1.0.14 peer-group METALLB\n" in after.named("router-bgp", "Command").inputs["stdin"]


def deletion_order(run: ProgramRun, removed: set[str]) -> list[str]:
    """The order Pulumi deletes resources in: dependents before what they depend on."""
    deps = {r.urn: [d for d in r.depends_on] for r in run.resources}
    order = list(TopologicalSorter(deps).static_order())
    return [run.by_urn(u).name for u in reversed(order) if u in removed]


def test_removing_a_worker_drains_and_deletes_the_node_before_the_vm(stack_runs, tmp_path):
    before = stack_runs["prd"]
    def remove(c: dict) -> None:
        c[K + "workers"]["nodes"].pop("worker-3")
        c[K + "addons"]["ceph"]["replicas"] = 2  # two workers hold at most two copies (refused otherwise)
    after = run_stack("prd", write_stack(tmp_path, "prd", remove))
    removed = set(_graph_inputs(before)) - set(_graph_inputs(after))
    order = deletion_order(before, removed)
    assert set(order) == {"worker-3-day-one", "worker-3", "worker-3-boot", "worker-3-boot-edit", "worker-3-data", "worker-3-host-key", "worker-3-sudo", "worker-3-ssh-keys", "worker-3-join-token", "worker-3-prepare", "worker-3-join-ticket",
                          "worker-3-join", "worker-3-membership", "worker-3-upgrade", "worker-3-drain", "worker-3-size", "worker-3-ready"}
    assert order.index("worker-3-size") < order.index("worker-3"), "the size goes with its VM, and deletes nothing itself"
    assert order.index("worker-3-membership") < order.index("worker-3-join") < order.index("worker-3-prepare") < order.index("worker-3")
    assert order.index("worker-3") < order.index("worker-3-boot")
    membership = before.named("worker-3-membership", "Command")
    leave = membership.inputs["delete"]
    assert leave.index("kubectl drain worker-3") < leave.index("kubectl delete node worker-3")
    assert membership.inputs["connection"]["host"] == before.outputs["nodes"]["cp-1"], "it runs on a control plane"


def test_replacing_a_control_plane_removes_its_etcd_member_first(stack_runs):
    run = stack_runs["prd"]
    leave = run.named("cp-2-membership", "Command").inputs["delete"]
    assert leave.index("kubectl drain cp-2") < leave.index("etcdctl member remove") < leave.index("kubectl delete node cp-2")
    assert run.named("cp-2-membership", "Command").inputs["connection"]["host"] == run.outputs["nodes"]["cp-1"]
    assert run.named("cp-1-membership", "Command").inputs["connection"]["host"] == run.outputs["nodes"]["cp-2"]
    graph = Graph(run)
    assert graph.direct("cp-3-membership", "cp-2-membership") and graph.direct("cp-2-membership", "cp-1-membership"), \
        "control-plane leaves are chained so etcd member removals never overlap"
    assert "etcdctl" not in run.named("worker-1-membership", "Command").inputs["delete"]


def test_raising_the_kubernetes_version_upgrades_in_order(stack_runs, tmp_path):
    before = stack_runs["prd"]
    after = run_stack("prd", write_stack(tmp_path, "prd", lambda c: c[K + "kubernetes"].update(version="1.37.0")))
    graph = Graph(after)
    chain = ["cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3"]
    for earlier, later in zip(chain, chain[1:]):
        assert graph.direct(f"{later}-upgrade", f"{earlier}-upgrade"), (earlier, later)
    scripts = {n: after.named(f"{n}-upgrade", "Command").inputs["stdin"] for n in chain}
    assert "kubeadm upgrade apply -y v1.37.0" in scripts["cp-1"]
    assert all("kubeadm upgrade node" in scripts[n] and "upgrade apply" not in scripts[n] for n in chain[1:])
    assert all(f"kubectl drain {n}" in scripts[n] and f"kubectl uncordon {n}" in scripts[n] for n in chain)
    assert all("target=1.37.0" in scripts[n] and "stable:/v1.37/deb" in scripts[n] for n in chain)
    old, new = _graph_inputs(before), _graph_inputs(after)
    changed = {before.by_urn(u).name for u in old if old[u] != new.get(u)}
    assert {f"{n}-upgrade" for n in chain} <= changed
    # The packages come with the preparation, at the version the control plane runs: its script changes and runs
    # again, a no-op on a member (tests/test_host_scripts.py); a join, which installs nothing, does not (the bootstrap's
    # carries the init configuration, which names the version).
    assert {f"{n}-prepare" for n in chain} <= changed
    assert not {f"{n}-join" for n in chain[1:]} & changed
    assert not {n for n in changed if n.endswith(("-membership", "-join-ticket"))}
    assert not {"worker-1", "cp-1", "router-config", "router-bgp", "lb-1-api-lb"} & changed


def test_every_host_is_reached_the_right_way(stack_runs):
    run = stack_runs["prd"]
    nodes = run.outputs["nodes"]
    for name in ("lb-1", "cp-1", "worker-1"):
        grant = run.named(f"{name}-sudo", "Command")
        assert "stdin" in grant.secret_inputs and "NOPASSWD:ALL" in grant.inputs["create"] and "visudo -cqf" in grant.inputs["create"]
        connection = grant.inputs["connection"]
        assert connection["host"] == nodes[name] and connection["user"] == "ubuntu"
        assert connection["dialErrorLimit"] == 30 and connection["perDialTimeout"] == 10
        assert ("proxy" in connection) == name.startswith("worker"), name
    proxy = run.named("worker-1-sudo", "Command").inputs["connection"]["proxy"]
    assert (proxy["host"], proxy["user"]) == (nodes["router"], "ubuntu")
    router = run.named("router-config", "Command")
    assert router.inputs["create"].endswith('sudo bash "$f"; rc=$?; rm -f "$f"; exit $rc')
    assert run.named("cp-1-prepare", "Command").inputs["create"].endswith('sudo bash "$f"; rc=$?; rm -f "$f"; exit $rc')


def test_resizing_nodes_changes_only_their_sizes_drains_and_gates(stack_runs, tmp_path):
    """The Server keeps the size it was made with (create-only); its ServerSize, drain and gate carry the new one."""
    before = stack_runs["prd"]
    after = run_stack("prd", write_stack(tmp_path, "prd", lambda c: c[K + "workers"]["size"].update(cpu=12, memoryGb=48)))
    old, new = _graph_inputs(before), _graph_inputs(after)
    changed = {before.by_urn(u).name for u in old if old[u] != new[u]}
    workers = ("worker-1", "worker-2", "worker-3")
    assert changed == {f"{w}-{step}" for w in workers for step in ("drain", "size", "ready")} | set(workers)
    from components.sakura.server import ServerType
    for w in workers:
        server = after.named(w, "sakura:Server")
        assert not ServerType(None).diff(old[server.urn], server.inputs).changed, "cpu/memoryGb are create-only"
        assert after.named(f"{w}-size", "sakura:ServerSize").inputs["cpu"] == 12
        assert "# wanted: 12 vCPU, 48 GB" in after.named(f"{w}-drain", "Command").inputs["stdin"]
        assert after.named(f"{w}-drain", "Command").inputs["triggers"] == old[after.named(f"{w}-drain", "Command").urn]["triggers"]


# --------------------------------------------------------------------------- size changes


@pytest.mark.parametrize("batch", [1, 2])
def test_every_size_change_waits_for_the_gate_before_it(tmp_path, batch):
    """drain -> size -> gate, node after node: cp-2's size waits for cp-1's gate (Ready, etcd healthy), lb-2's for
    lb-1's (HAProxy, VRRP), workers batch after batch. Nothing of day one waits for any of it."""
    run = run_stack("prd", write_stack(tmp_path, "prd", lambda c: c[K + "workers"].update(resizeBatchSize=batch)))
    graph = Graph(run)
    workers = [["worker-1"], ["worker-2"], ["worker-3"]] if batch == 1 else [["worker-1", "worker-2"], ["worker-3"]]
    for chain in ([["cp-1"], ["cp-2"], ["cp-3"]], [["lb-1"], ["lb-2"]], workers):
        for group in chain:
            for node in group:
                assert graph.direct(f"{node}-size", f"{node}-drain") and graph.direct(f"{node}-ready", f"{node}-size"), node
                assert graph.direct(f"{node}-size", node), "the size is its VM's"
        for earlier, later in zip(chain, chain[1:]):
            for a in earlier:
                for b in later:
                    assert graph.direct(f"{b}-size", f"{a}-ready") and graph.direct(f"{b}-drain", f"{a}-ready"), (a, b)
        for group in chain:
            for a in group:
                for b in group:
                    assert a == b or not graph.reaches(f"{a}-size", f"{b}-ready"), "a batch goes together"
    assert not [n for n in ("cp-1", "lb-1", "worker-1") if graph.reaches(f"{n}-size", "cp-1-ready") and n != "cp-1"]
    # Day one is not slowed down: no VM, preparation, join or setup waits for a size, drain or gate.
    steps = {r.urn for r in run.resources if r.name.endswith(("-size", "-drain", "-ready")) and r.name != "nodes-ready"}
    for r in run.resources:
        if r.urn in steps:
            continue
        seen, stack = set(), [r.urn]
        while stack:
            for dep in graph.deps.get(stack.pop(), ()):
                assert dep not in steps, (r.name, run.by_urn(dep).name)
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
    # What each gate waits for.
    cp = run.artifact("scripts/cp-2/resize-gate.sh")
    assert "kubectl get node cp-2" in cp and "etcdctl endpoint health --cluster" in cp and "kubectl uncordon cp-2" in cp
    assert "etcdctl" not in run.artifact("scripts/worker-1/resize-gate.sh")
    lb = run.artifact("scripts/lb-2/resize-gate.sh")
    assert "http://127.0.0.1:8404/healthz" in lb and "MASTER|BACKUP" in lb
    assert "stdin" in run.named("worker-1-drain", "Command").secret_inputs, "a worker drains with the admin kubeconfig"


def test_replacing_a_vm_re_runs_everything_on_it(stack_runs):
    run = stack_runs["prd"]
    from components.mocking import fake_sakura_id
    for host, commands in (("router", ("router-config", "router-bgp")), ("lb-1", ("lb-1-sudo", "lb-1-api-lb"))):
        server = run.named(host, "sakura:Server")
        for name in commands:
            assert fake_sakura_id("prd", server.type, host) in run.named(name, "Command").inputs["triggers"], name
    membership = run.named("worker-1-membership", "Command")
    cp1 = run.named("cp-1", "sakura:Server")
    assert fake_sakura_id("prd", cp1.type, "cp-1") not in membership.inputs["triggers"], \
        "replacing the control plane a leave runs on must not make the node leave"


def test_every_node_on_the_global_segment_routes_the_private_side_through_the_router(stack_runs):
    """Workers and venue clients reach the VIP and the control planes: the replies must go back via the router."""
    run = stack_runs["prd"]
    router = run.outputs["nodes"]["router"]
    for node, script in (("lb-1", "setup-api-lb.sh"), ("lb-2", "setup-api-lb.sh"), ("cp-1", "prepare.sh"), ("cp-3", "prepare.sh")):
        text = run.artifact(f"scripts/{node}/{script}")
        routes = dict(re.findall(r"- to: (\S+)\n\s+via: (\S+)", text))
        assert routes == {"10.1.0.0/24": router, "10.1.1.0/24": router, "10.255.0.0/24": router, "172.16.0.0/16": router}, node
        assert "netplan apply" in text
    assert "- to:" not in run.artifact("scripts/worker-1/prepare.sh"), "workers use the router as their default gateway"


def test_every_connection_pins_the_host_key_read_on_first_contact(stack_runs):
    """Only the first contact (which reads the host key and sends nothing) accepts any key; everything after it,
    the jump through the router included, accepts the recorded key only."""
    run = stack_runs["prd"]
    recorded = {r.name.removesuffix("-host-key"): r for r in run.of_type("remote:Command") if r.name.endswith("-host-key")}
    assert set(recorded) == {"router", "lb-1", "lb-2", "cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3"}
    keys = {node: r.outputs["stdout"].strip() for node, r in recorded.items()}
    nodes = {address: node for node, address in run.outputs["nodes"].items()}
    for node, first in recorded.items():
        assert first.inputs["create"] == "cat /etc/ssh/ssh_host_ed25519_key.pub" and "stdin" not in first.inputs
        assert "hostKey" not in first.inputs["connection"]
    for command in run.of_type("remote:Command"):
        if command.name.endswith("-host-key"):
            if "proxy" in command.inputs["connection"]:
                assert command.inputs["connection"]["proxy"]["hostKey"] == keys["router"], command.name
            continue
        connection = command.inputs["connection"]
        assert connection["hostKey"] == keys[nodes[connection["host"]]], command.name
        if "proxy" in connection:
            assert connection["proxy"]["hostKey"] == keys["router"], command.name


def test_the_vyos_router_is_reached_as_vyos_through_vbash(vyos_runs):
    run = vyos_runs["prd"]
    proxy = run.named("worker-1-sudo", "Command").inputs["connection"]["proxy"]
    assert (proxy["host"], proxy["user"]) == (run.outputs["nodes"]["router"], "vyos")
    assert not [r for r in run.resources if r.name in ("router-sudo", "router-ssh-keys")], "VyOS is configured through vbash"
    assert run.named("router-config", "Command").inputs["create"].endswith('/bin/vbash "$f"; rc=$?; rm -f "$f"; exit $rc')
