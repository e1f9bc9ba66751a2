"""The add-ons layer under mocks: dependency order, the kubeadm layer's provider, secrets, protection, the chart source
and versions, the stack keys and their rules; with the layer off, nothing of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components import charts
from components.config import PROJECT, ConfigError
from components.helm import _refuse_secrets
from components.mocking import fake_block
from components.offline import PROJECT_ROOT, ProgramRun, load_stack, manifest
from components.plan import GlobalBlock, build_plan
from components.render.charts import addon_steps, namespace_objects
from components.render.charts.cert_manager import account_key

from ..checks.charts import stack_charts
from ..conftest import STACKS, UPSTREAM, refusal, run_stack, set_key, write_stack
from ..preview_model import preview

K = PROJECT + ":"
CRD_CHARTS = {"metallb.io": charts.METALLB, "gateway.networking.k8s.io": charts.ENVOY_GATEWAY,
              "gateway.envoyproxy.io": charts.ENVOY_GATEWAY, "cert-manager.io": charts.CERT_MANAGER}


class Graph:
    def __init__(self, run: ProgramRun):
        self.run = run
        self.deps = {r.urn: set(r.depends_on) for r in run.resources}

    def reaches(self, source, target) -> bool:
        """Whether `source` depends on `target`, directly or not."""
        seen, stack = set(), [source.urn]
        while stack:
            for dep in self.deps.get(stack.pop(), ()):
                if dep == target.urn:
                    return True
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        return False


def chart_resource(run: ProgramRun, chart: charts.Chart):
    return run.named(chart.release or chart.name, "Release" if chart.kind == "release" else "Chart")


def addon_resources(run: ProgramRun) -> list:
    layer = run.named("addons", "ClusterAddons")
    return [r for r in run.resources if r.parent == layer.urn]


def objects(run: ProgramRun, kind: str) -> list:
    return [r for r in addon_resources(run) if r.type.endswith(":" + kind)]


# --------------------------------------------------------------------------- order and provider


@pytest.mark.parametrize("stack", STACKS)
def test_the_add_ons_come_in_dependency_order(stack_runs, stack):
    run = stack_runs[stack]
    graph = Graph(run)
    cni = run.named("cilium", "Release")
    resources = addon_resources(run)
    kubernetes = [r for r in resources if r.type.startswith("kubernetes:")]
    assert len(kubernetes) >= 20
    for r in kubernetes:
        assert graph.reaches(r, cni), f"{r.name} waits for the CNI"
    # CRDs before custom resources: each custom resource after the chart that defines its kind.
    for r in kubernetes:
        group = r.type.split(":")[1].split("/")[0]
        if group in CRD_CHARTS:
            assert graph.reaches(r, chart_resource(run, CRD_CHARTS[group])), f"{r.name} after the chart that serves {group}"
    # MetalLB (and its pools) before any LoadBalancer Service: Envoy Gateway makes one for each Gateway.
    metallb, pool = chart_resource(run, charts.METALLB), run.named("metallb-bgp-ipaddresspool-global")
    for gateway in objects(run, "Gateway"):
        assert graph.reaches(gateway, metallb) and graph.reaches(gateway, pool), gateway.name
    # cert-manager before the issuers and certificates; the Gateway API CRDs before cert-manager; the Gateway before
    # the certificate (HTTP-01 goes through it). Envoy Gateway and MetalLB install at once.
    cert_manager, envoy_gateway = chart_resource(run, charts.CERT_MANAGER), chart_resource(run, charts.ENVOY_GATEWAY)
    for r in objects(run, "ClusterIssuer") + objects(run, "Certificate"):
        assert graph.reaches(r, cert_manager) and graph.reaches(r, run.named("gateway-gateway-global")), r.name
    assert graph.reaches(cert_manager, envoy_gateway)
    assert not graph.reaches(envoy_gateway, metallb) and not graph.reaches(metallb, envoy_gateway)
    assert not graph.reaches(cert_manager, run.named("gateway-gateway-global")), "the chart waits for the CRDs only"
    for server in ("staging", "production"):
        issuer = run.named(f"cert-manager-clusterissuer-letsencrypt-{server}")
        assert graph.reaches(issuer, run.named(f"cert-manager-secret-{account_key(server)}")), "the account key before its issuer"
    # The Rook operator (and its CRDs) before the Ceph cluster.
    assert graph.reaches(chart_resource(run, charts.ROOK_CEPH_CLUSTER), chart_resource(run, charts.ROOK_CEPH))
    # A chart after its namespace.
    for chart in charts.ADDONS:
        if chart.namespace != "kube-system":
            assert graph.reaches(chart_resource(run, chart), run.named(f"namespace-{chart.namespace}")), chart.name


def test_the_smoke_test_comes_after_its_certificate_and_the_ceph_cluster(stack_runs):
    run = stack_runs["dev"]
    graph = Graph(run)
    smoke = [r for r in addon_resources(run) if r.name.startswith("smoke-test-")]
    assert sorted(r.name for r in smoke) == ["smoke-test-deployment-web", "smoke-test-deployment-writer", "smoke-test-httproute-web",
                                             "smoke-test-persistentvolumeclaim-shared", "smoke-test-service-web"]
    for r in smoke:
        assert graph.reaches(r, run.named("cert-manager-certificate-global-gateway"))
        assert graph.reaches(r, chart_resource(run, charts.ROOK_CEPH_CLUSTER))
    assert not [r for r in addon_resources(stack_runs["prd"]) if r.name.startswith("smoke-test-")], "only on request"


@pytest.mark.parametrize("stack", STACKS)
def test_everything_goes_through_the_kubeadm_layers_provider(stack_runs, stack):
    run = stack_runs[stack]
    provider = run.named("kubernetes", "providers:kubernetes")
    reference = f"{provider.urn}::{provider.id}"
    kubernetes = [r for r in addon_resources(run) if r.type.startswith("kubernetes:")] + [run.named("cilium", "Release")]
    for r in kubernetes:
        if r.custom:
            assert r.provider == reference, r.name
        else:  # a helm.v4.Chart: a component that hands its provider down to the objects it makes
            assert r.providers == {"kubernetes": reference}, r.name


@pytest.mark.parametrize("stack", STACKS)
def test_the_layer_applies_the_rendered_steps(stack_runs, stack):
    """What the layer makes is what render/charts says: the contract a test rendering the charts with Helm and applying
    the objects to an API server relies on (it calls `addon_steps` and never knows a chart)."""
    run = stack_runs[stack]
    loaded = load_stack(stack)[0]
    plan = build_plan(loaded, GlobalBlock.assumed(fake_block(stack, loaded.config.network.global_prefix_length)))
    steps = addon_steps(plan)
    for step in steps:
        if step.chart is not None:
            assert yaml.safe_load(run.artifact(f"helm/{step.chart.name}-values.yaml")) == step.values
            assert chart_resource(run, step.chart).inputs["values"] == step.values
        if step.objects:
            assert [d for d in yaml.safe_load_all(run.artifact(f"kubernetes/{step.name}.yaml")) if d] == list(step.objects)
    assert [d for d in yaml.safe_load_all(run.artifact("kubernetes/namespaces.yaml")) if d] == list(namespace_objects(steps))
    assert [s.chart for s in steps if s.chart] == list(charts.ADDONS), "every add-on chart, in the table's order"


# --------------------------------------------------------------------------- secrets, protection


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_go_into_kubernetes_secrets_never_into_helm_values(stack_runs, stack):
    run = stack_runs[stack]
    for chart in stack_charts(stack):
        resource = chart_resource(run, chart)
        assert not [p for p in resource.secret_inputs if p.startswith("values")], chart.name
        assert "<secret:" not in run.artifact(f"helm/{chart.name}-values.yaml")
    for server in ("staging", "production"):
        secret = run.named(f"cert-manager-secret-{account_key(server)}", "Secret")
        assert "stringData" in secret.secret_inputs and secret.inputs["stringData"]["tls.key"].startswith("-----BEGIN")
        assert "metadata" not in secret.secret_inputs, "its name stays reviewable in a preview"
        issuer = run.named(f"cert-manager-clusterissuer-letsencrypt-{server}")
        assert issuer.inputs["spec"]["acme"]["privateKeySecretRef"]["name"] == account_key(server)
        assert issuer.inputs["spec"]["acme"]["disableAccountKeyGeneration"] is True
    entry = next(e for e in manifest(run)["artifacts"] if e["path"] == "kubernetes/cert-manager.yaml")
    assert entry["secrets"] == sorted(account_key(server) for server in ("staging", "production")), "placeholders, named in the manifest"
    with pytest.raises(ValueError, match="never into Helm values"):
        _refuse_secrets("password: <secret:grafana-admin>\n", "helm/grafana-values.yaml")


def test_prd_protects_the_ceph_releases_and_nothing_else(stack_runs):
    for stack, protected in (("prd", True), ("dev", False)):
        run = stack_runs[stack]
        for chart in stack_charts(stack):
            expected = protected and chart in (charts.ROOK_CEPH, charts.ROOK_CEPH_CLUSTER)
            assert chart_resource(run, chart).protect is expected, (stack, chart.name)


# --------------------------------------------------------------------------- switches


def _kubernetes_resources(run: ProgramRun) -> list[str]:
    """What the kubeadm and add-ons layers make through the cluster's API (Argo CD's access is the GitOps layer's)."""
    return sorted(r.name for r in run.resources if (r.type.startswith("kubernetes:") or r.type.endswith("ClusterAddons"))
                  and not r.name.startswith("argocd-access"))


@pytest.mark.parametrize("layers", [{"addons": False}, {"kubernetes": False}], ids=["addons-off", "kubernetes-off"])
def test_with_the_layer_off_nothing_of_it_exists(tmp_path, layers):
    run = run_stack("dev", write_stack(tmp_path, "dev", lambda c: c.update({K + "layers": layers})))
    assert _kubernetes_resources(run) == (["cilium"] if "addons" in layers else [])
    assert [a.path for a, _ in run.artifacts if a.kind in ("helm-values", "kubernetes") and "argocd-access" not in a.path] == \
        (["helm/cilium-values.yaml"] if "addons" in layers else [])
    assert "gateways" not in run.outputs


def test_the_layer_needs_the_cluster(tmp_path):
    path = write_stack(tmp_path, "dev", lambda c: c.update({K + "layers": {"kubernetes": False, "addons": True}}))
    with pytest.raises(ConfigError, match=r"layers\.addons: expected false unless layers\.kubernetes is true or externalKubeconfig"):
        load_stack("dev", path)


def test_a_local_chart_source_takes_every_chart_from_its_folder(tmp_path):
    """wsp installs every chart of the table."""
    source = "../shared/upstream/charts"
    run = run_stack("wsp", write_stack(tmp_path, "wsp", lambda c: c.update({K + "charts": {"source": source}})))
    for chart in stack_charts("wsp"):
        resource = chart_resource(run, chart)
        assert resource.inputs["chart"] == f"{source}/{chart.folder()}" and "repositoryOpts" not in resource.inputs, chart.name
        if UPSTREAM.is_dir():
            assert (PROJECT_ROOT / resource.inputs["chart"] / "Chart.yaml").is_file(), "relative to the project directory"


def test_the_default_source_is_each_charts_repository(stack_runs):
    run = stack_runs["wsp"]
    for chart in stack_charts("wsp"):
        inputs = chart_resource(run, chart).inputs
        if chart.repository.startswith("oci://"):
            assert inputs["chart"] == f"{chart.repository}/{chart.name}" and "repositoryOpts" not in inputs
        else:
            assert inputs["chart"] == chart.name and inputs["repositoryOpts"] == {"repo": chart.repository}


def test_a_stack_can_try_another_version_of_one_chart(stack_runs, tmp_path):
    """dev as the canary: `charts.versions.metallb` changes that chart's version, and nothing else."""
    before = stack_runs["dev"]
    after = run_stack("dev", write_stack(tmp_path, "dev", lambda c: c.update({K + "charts": {"versions": {"metallb": "0.16.2"}}})))
    changed = {r.name for r in after.resources if r.inputs != before.named(r.name, r.type).inputs}
    assert changed == {"metallb"}
    assert chart_resource(after, charts.METALLB).inputs["version"] == "0.16.2"
    entry = next(a for a, _ in after.artifacts if a.chart == "metallb")
    assert entry.version == "0.16.2" and after.artifact(entry.path).startswith("# metallb 0.16.2 values for dev")


def test_gateway_addresses_are_a_stack_output(stack_runs, tmp_path):
    assert stack_runs["prd"].outputs["gateways"] == {"global": "192.0.2.16", "private": "10.1.1.1"}
    def no_private_pool(c):
        c[K + "metallb"].pop("privatePool")
        c[K + "layers"] = {"monitoring": False}  # it needs the private pool
    run = run_stack("prd", write_stack(tmp_path, "prd", no_private_pool))
    assert run.outputs["gateways"] == {"global": "192.0.2.16"}
    assert [r.name for r in objects(run, "Gateway")] == ["gateway-gateway-global"]


def test_acme_issues_from_the_server_the_stack_chose(stack_runs):
    for stack, server in (("prd", "production"), ("dev", "staging"), ("wsp", "production")):
        certificate = stack_runs[stack].named("cert-manager-certificate-global-gateway")
        assert certificate.inputs["spec"]["issuerRef"]["name"] == f"letsencrypt-{server}", stack


def test_speakers_run_on_the_workers_only(stack_runs):
    values = chart_resource(stack_runs["prd"], charts.METALLB).inputs["values"]
    assert values["speaker"]["tolerateMaster"] is False and values["frr-k8s"]["frrk8s"]["tolerateMaster"] is False


def test_ceph_fits_the_workers(tmp_path):
    def two_workers(c):
        c[K + "workers"]["nodes"] = {"worker-1": 11, "worker-2": 12}
        c[K + "addons"]["ceph"] = {"replicas": 2}
    run = run_stack("dev", write_stack(tmp_path, "dev", two_workers))
    spec = chart_resource(run, charts.ROOK_CEPH_CLUSTER).inputs["values"]["cephClusterSpec"]
    assert (spec["mon"]["count"], spec["mgr"]["count"]) == (1, 2), "an odd number of mons, each on another worker"
    assert [n["name"] for n in spec["storage"]["nodes"]] == ["worker-1", "worker-2"]


# --------------------------------------------------------------------------- stack keys


BAD = [
    ("replicas-above-workers", set_key("addons.ceph.replicas", 4), "addons.ceph.replicas", "at most the number of workers (3)"),
    ("replicas-zero", set_key("addons.ceph.replicas", 0), "addons.ceph.replicas", "from 1 to 7"),
    ("no-data-disk", lambda c: c[K + "workers"].pop("dataDiskGb"), "workers.dataDiskGb", "Rook-Ceph puts one OSD on it"),
    ("no-addons-section", lambda c: c.pop(K + "addons"), "addons", "an addons section"),
    ("no-email", lambda c: c[K + "addons"]["acme"].pop("email"), "addons.acme.email", "this key is required"),
    ("bad-email", set_key("addons.acme.email", "infra at example.org"), "addons.acme.email", "e-mail address"),
    ("no-server", lambda c: c[K + "addons"]["acme"].pop("server"), "addons.acme.server", "this key is required"),
    ("server-typo", set_key("addons.acme.server", "prod"), "addons.acme.server", "staging, production"),
    ("no-hostnames", set_key("addons.gateway.hostnames", []), "addons.gateway.hostnames", "at least one DNS name"),
    ("wildcard", set_key("addons.gateway.hostnames", ["*.example.org"]), "addons.gateway.hostnames[0]", "no wildcard"),
    ("hostname-twice", set_key("addons.gateway.hostnames", ["a.example.org", "a.example.org"]), "addons.gateway.hostnames[1]", "listed once"),
    ("no-https-port", set_key("access.publicTcpPorts", [80]), "access.publicTcpPorts", "with 80 and 443"),
    ("schedule", set_key("addons.deschedulerSchedule", "every 3 minutes"), "addons.deschedulerSchedule", "cron schedule"),
    ("unknown-chart", set_key("charts.versions", {"metalb": "0.16.2"}), "charts.versions.metalb", "did you mean 'metallb'"),
    ("version-form", set_key("charts.versions", {"cert-manager": "1.21.2"}), "charts.versions.cert-manager", "(v1.21.1)"),
    ("version-digits", set_key("charts.versions", {"cilium": "\uff11.20.0"}), "charts.versions.cilium", "x.y.z"),
    ("source-url", set_key("charts.source", "https://charts.example.org"), "charts.source", "not a URL"),
    ("addons-key-typo", set_key("addons.smokeTests", True), "addons.smokeTests", "did you mean 'smokeTest'"),
]


@pytest.mark.parametrize("case, edit, key, text", BAD, ids=[b[0] for b in BAD])
def test_a_bad_addons_key_is_refused_by_name(tmp_path, case, edit, key, text):
    refusal(tmp_path, "prd", edit, key, text)


def test_the_add_ons_keys_are_checked_only_when_the_layer_is_on(tmp_path):
    def off(c):
        c[K + "layers"] = {"addons": False}
        c.pop(K + "addons")
        c[K + "workers"].pop("dataDiskGb")
        c[K + "access"]["publicTcpPorts"] = [8080]
    assert not load_stack("prd", write_stack(tmp_path, "prd", off))[0].config.layers.addons_on


def test_every_addons_key_is_documented():
    docs = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    for key in ("layers.addons", "charts.source", "charts.versions", "addons.acme.email", "addons.acme.server",
                "addons.gateway.hostnames", "addons.ceph.replicas", "addons.deschedulerSchedule", "addons.smokeTest"):
        assert f"`{key}`" in docs, key
    assert "kubernetes.ciliumVersion" not in docs
    assert (PROJECT_ROOT / "docs" / "layers" / "addons.md").is_file()
    assert Path(PROJECT_ROOT / "README.md").read_text().count("docs/layers/addons.md") >= 1


def test_a_chart_version_change_previews_as_one_update(stack_runs, tmp_path):
    """Raising one chart is an update of its release, and of nothing else."""
    loaded, raw, secret_keys = load_stack("dev", write_stack(tmp_path, "dev", set_key("charts.versions", {"cert-manager": "v1.21.2"})))
    result = preview(stack_runs["dev"], loaded, raw, secret_keys)
    assert {name: step for name, step in result.steps.items() if step != "same"} == {"cert-manager": "update"}


def test_an_external_cluster_gets_the_same_layers_through_its_own_provider_without_readiness_waits(tmp_path, stack_runs):
    """What the engine test runs against its control plane: no kubeadm layer, the same charts and objects, nothing
    awaited; while a stack that awaits (every committed one) leaves those inputs unset, as they always were."""
    run = run_stack("dev", write_stack(tmp_path, "dev", lambda c: c.update({
        K + "layers": {"edge": False, "apiLoadBalancer": False, "kubernetes": False, "addons": True},
        K + "externalKubeconfig": {"secure": "v1:AAAA:BBBB"}, K + "kubernetes": {"awaitReadiness": False}})))
    provider = run.named("kubernetes", "providers:kubernetes")
    assert provider.parent.endswith("ExternalCluster::external-cluster") and "kubeconfig" in provider.secret_inputs
    assert not [r for r in run.resources if r.type.startswith("command:")], "no VM is logged in to"
    made = sorted(r.name for r in run.resources if r.type.startswith("kubernetes:") and r.name != "kubernetes")
    # Argo CD's access (the GitOps layer) is made only in clusters the kubeadm layer made: it exports their VIP and CA.
    assert made == sorted(r.name for r in stack_runs["dev"].resources if r.type.startswith("kubernetes:") and r.name != "kubernetes"
                          and not r.name.startswith("argocd-access"))
    for r in run.resources:
        if r.type in ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"):
            assert r.inputs.get("skipAwait") is True, r.name
            assert r.inputs.get("disableWebhooks") is (True if r.type.endswith("Release") else None), r.name
        elif r.type.startswith("kubernetes:") and r.custom and r.name != "kubernetes":
            assert r.inputs["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true", r.name
    for r in stack_runs["dev"].resources:
        if r.type.startswith("kubernetes:") and r.name != "kubernetes":
            assert "skipAwait" not in r.inputs and "disableWebhooks" not in r.inputs, r.name
            assert "pulumi.com/skipAwait" not in str(r.inputs.get("metadata")), r.name
