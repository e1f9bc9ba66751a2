"""Every chart rendered by the real Helm (`helm template`, .tools/bin/helm from scripts/toolchain.sh) from
../shared/upstream/charts/ with the values the program publishes: what the imitations in test_values.py stand for.

Checked here: each chart renders; every custom resource Helm renders validates against its pinned CRD made strict;
the rendered objects do what the values are for (speakers on workers only, the OSDs on the planned devices, the
storage classes, cert-manager's Gateway API support, the descheduler's schedule). Applying the objects to a real API
server with strict field validation is the next step (tests that start kube-apiserver).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from components import charts
from components.offline import PROJECT_ROOT
from components.render.charts.argo_cd import HELMFILE_IMAGE, PLUGIN, TRIGGERS

from ..checks import charts as upstream
from ..checks.schemas import PLUGIN_SPEC, _crd_validators, crd_errors
from ..conftest import STACKS, require_shared


def helm() -> str:
    local = PROJECT_ROOT / ".tools" / "bin" / "helm"
    found = str(local) if local.is_file() else shutil.which("helm")
    if found is None:
        pytest.skip("needs helm: scripts/toolchain.sh kubernetes builds .tools/bin/helm")
    return found


def template(chart: charts.Chart, version: str, values: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm(), "template", chart.release or chart.name, str(upstream.folder(chart, version)), "--namespace",
                           chart.namespace, "--values", str(values), "--kube-version", "1.36.3", *extra],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def rendered(stack_runs, tmp_path_factory) -> dict[tuple[str, str], list[dict]]:
    """(stack, chart name) -> the objects Helm renders with that stack's published values."""
    require_shared()
    helm()
    out = {}
    for stack in STACKS:
        directory = tmp_path_factory.mktemp(stack)
        for artifact, text in stack_runs[stack].artifacts:
            if artifact.kind != "helm-values":
                continue
            values = directory / Path(artifact.path).name
            values.write_text(text)
            result = template(charts.BY_NAME[artifact.chart], artifact.version, values)
            assert result.returncode == 0, f"{stack} {artifact.chart}: {result.stderr}"
            # libyaml: Rook's CRDs alone are 2 MB of templates
            out[(stack, artifact.chart)] = [doc for doc in yaml.load_all(result.stdout, Loader=yaml.CSafeLoader) if doc]
    return out


def named(objects: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


@pytest.mark.parametrize("stack", STACKS)
def test_every_chart_renders_and_its_custom_resources_validate(rendered, stack):
    dirs = upstream.crd_dirs()
    served = {api_version for d in dirs for api_version, _ in _crd_validators(str(d))}
    for chart in upstream.stack_charts(stack):
        objects = rendered[(stack, chart.name)]
        assert objects, chart.name
        custom = [o for o in objects if o["apiVersion"] in served and o["kind"] != "CustomResourceDefinition"]
        assert crd_errors(custom, dirs) == [], chart.name


def test_the_rendered_objects_do_what_the_values_are_for(rendered):
    metallb = rendered[("prd", "metallb")]
    for daemonset in ("metallb-speaker", "metallb-frr-k8s"):
        spec = named(metallb, "DaemonSet", daemonset)["spec"]["template"]["spec"]
        assert not [t for t in spec.get("tolerations") or [] if "control-plane" in t.get("key", "")], f"{daemonset} on workers only"
    ceph = rendered[("prd", "rook-ceph-cluster")]
    storage = named(ceph, "CephCluster", "rook-ceph")["spec"]["storage"]
    assert (storage["useAllNodes"], storage["useAllDevices"]) == (False, False)
    assert {n["name"]: n["devices"] for n in storage["nodes"]} == {w: [{"name": "vdb"}] for w in ("worker-1", "worker-2", "worker-3")}
    block, filesystem = named(ceph, "StorageClass", "ceph-block"), named(ceph, "StorageClass", "ceph-filesystem")
    assert block["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert filesystem["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "false"
    assert filesystem["provisioner"] == "rook-ceph.cephfs.csi.ceph.com" and filesystem["parameters"]["fsName"] == "ceph-filesystem"
    assert block["parameters"]["csi.storage.k8s.io/node-stage-secret-namespace"] == "rook-ceph", "the chart filled in its namespace"
    cert_manager = rendered[("prd", "cert-manager")]
    assert "enableGatewayAPI: true" in yaml.safe_dump(named(cert_manager, "ConfigMap", "cert-manager")["data"])
    assert named(cert_manager, "Deployment", "cert-manager")["spec"]["replicas"] == 2
    cron = named(rendered[("prd", "descheduler")], "CronJob", "descheduler")
    assert cron["spec"]["schedule"] == "*/3 * * * *"
    assert named(rendered[("prd", "gateway-helm")], "Deployment", "envoy-gateway")["spec"]["replicas"] == 2


def test_helm_refuses_what_a_values_schema_forbids_and_nothing_else(stack_runs, tmp_path):
    """Why test_values.py checks every key against the defaults: cert-manager's schema refuses a wrong type and an unknown
    key, but a chart without a schema (the descheduler) renders a misspelled key without a word."""
    require_shared()
    helm()
    text = stack_runs["dev"].artifact("helm/cert-manager-values.yaml")
    for name, broken in (("type", text.replace("replicaCount: 2", "replicaCount: two", 1)),
                         ("typo", text.replace("replicaCount: 2", "replicaCont: 2", 1))):
        (tmp_path / f"{name}.yaml").write_text(broken)
        assert template(charts.CERT_MANAGER, charts.CERT_MANAGER.version, tmp_path / f"{name}.yaml").returncode != 0, name
    text = stack_runs["dev"].artifact("helm/descheduler-values.yaml")
    (tmp_path / "descheduler.yaml").write_text(text.replace("schedule:", "schedul:", 1))
    assert template(charts.DESCHEDULER, charts.DESCHEDULER.version, tmp_path / "descheduler.yaml").returncode == 0


def test_argo_cd_renders_the_plugin_the_notifications_and_the_route_the_program_means(rendered):
    """What Helm makes of the Argo CD values: the plugin file the sidecar reads (Argo CD's ValidatePluginConfig rules and
    the strict spec), the notifications ConfigMap with the seeds' six triggers, argocd-cm, the HTTPRoute and the sidecar."""
    objects = rendered[("wsp", "argo-cd")]
    plugin = yaml.safe_load(named(objects, "ConfigMap", "argocd-cmp-cm")["data"][f"{PLUGIN}.yaml"])
    assert (plugin["apiVersion"], plugin["kind"], plugin["metadata"]["name"]) == ("argoproj.io/v1alpha1", "ConfigManagementPlugin", PLUGIN)
    assert list(Draft7Validator(PLUGIN_SPEC).iter_errors(plugin["spec"])) == [] and plugin["spec"]["generate"]["command"]
    notifications = named(objects, "ConfigMap", "argocd-notifications-cm")["data"]
    assert sorted(k for k in notifications if k.startswith("trigger.")) == sorted(f"trigger.{t}" for t in TRIGGERS)
    assert yaml.safe_load(notifications["subscriptions"])[0]["triggers"] == list(TRIGGERS)
    assert yaml.safe_load(notifications["context"]) == {"argocdUrl": "https://argocd.wsp.contest.example.org"}
    assert not [o for o in objects if o["kind"] == "Secret" and o["metadata"]["name"] == "argocd-notifications-secret"]
    cm = named(objects, "ConfigMap", "argocd-cm")["data"]
    assert cm["admin.enabled"] == "false" and "type: github" in cm["dex.config"] and cm["url"] == "https://argocd.wsp.contest.example.org"
    assert named(objects, "ConfigMap", "argocd-cmd-params-cm")["data"]["server.insecure"] == "true"
    route = named(objects, "HTTPRoute", "argocd-server")["spec"]
    assert route["hostnames"] == ["argocd.wsp.contest.example.org"] and route["parentRefs"][0]["sectionName"] == "https"
    repo_server = named(objects, "Deployment", "argocd-repo-server")["spec"]["template"]["spec"]
    sidecar = next(c for c in repo_server["containers"] if c["name"] == PLUGIN)
    assert sidecar["image"] == HELMFILE_IMAGE
    volumes = {v["name"] for v in repo_server["volumes"]}
    assert {m["name"] for m in sidecar["volumeMounts"]} <= volumes, "every mount has its volume (the chart's and ours)"


def test_prometheus_keeps_less_than_its_volume_and_sends_to_wsp(rendered):
    for stack in STACKS:
        spec = named(rendered[(stack, "kube-prometheus-stack")], "Prometheus", "kube-prometheus-stack-prometheus")["spec"]
        volume = int(spec["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"].removesuffix("Gi"))
        assert int(spec["retentionSize"].removesuffix("GiB")) < volume and spec["externalLabels"] == {"cluster": stack}
        assert [w["url"] for w in spec.get("remoteWrite", [])] == ([] if stack == "wsp" else ["http://10.3.1.1/prometheus/api/v1/write"])
        alertmanager = named(rendered[(stack, "kube-prometheus-stack")], "Alertmanager", "kube-prometheus-stack-alertmanager")["spec"]
        assert alertmanager["secrets"] == ["alertmanager-slack"]
    fluent_bit = named(rendered[("wsp", "fluent-bit")], "DaemonSet", "fluent-bit")["spec"]["template"]["spec"]
    assert fluent_bit["tolerations"] == [{"operator": "Exists"}], "on every node, control planes too"
    config = named(rendered[("wsp", "loki")], "ConfigMap", "loki")["data"]["config.yaml"]
    assert "alertmanager_url: http://kube-prometheus-stack-alertmanager.monitoring:9093" in config and "retention_period: 336h" in config
    grafana = named(rendered[("wsp", "grafana")], "Deployment", "grafana")["spec"]["template"]
    env = {e["name"]: e for e in grafana["spec"]["containers"][-1]["env"]}
    assert env["GF_AUTH_GITHUB_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "grafana-github-oauth"
    assert env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "grafana-admin"


# (chart, a change of what the chart renders into a ConfigMap, a change of something else)
CHECKSUMMED = [
    ("grafana", lambda v: v["grafana.ini"]["auth.github"].update(team_ids="7654321"), lambda v: v.update(replicas=2)),
    ("fluent-bit", lambda v: v["config"].update(outputs=v["config"]["outputs"].replace("Retry_Limit False", "Retry_Limit 5")),
     lambda v: v.update(tolerations=[])),
    ("loki", lambda v: v["loki"]["limits_config"].update(retention_period="24h"), lambda v: v["singleBinary"]["persistence"].update(size="60Gi")),
    ("prometheus-blackbox-exporter", lambda v: v["config"]["modules"]["http_2xx"].update(timeout="5s"), lambda v: v.update(replicas=2)),
]


def _checksums(chart: charts.Chart, values: dict, directory: Path) -> dict[str, str]:
    path = directory / f"{chart.name}-{len(list(directory.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(values))
    result = template(chart, chart.version, path)
    assert result.returncode == 0, result.stderr
    found = {}
    for obj in yaml.load_all(result.stdout, Loader=yaml.CSafeLoader):
        if obj and obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            annotations = obj["spec"]["template"]["metadata"].get("annotations") or {}
            found.update({f"{obj['metadata']['name']} {k}": v for k, v in annotations.items() if k.startswith("checksum/")})
    return found


@pytest.mark.parametrize("name, config_change, other_change", CHECKSUMMED, ids=[c[0] for c in CHECKSUMMED])
def test_the_charts_roll_their_pods_when_their_configuration_changes_and_only_then(stack_runs, tmp_path, name, config_change,
                                                                                   other_change):
    """What the monitoring charts render into ConfigMaps carries the charts' own checksum annotations."""
    require_shared()
    helm()
    chart = charts.BY_NAME[name]
    values = yaml.safe_load(stack_runs["wsp"].artifact(f"helm/{name}-values.yaml"))
    before = _checksums(chart, values, tmp_path)
    assert before, f"{name}: no checksum annotation"
    changed, other = copy.deepcopy(values), copy.deepcopy(values)
    config_change(changed)
    other_change(other)
    assert _checksums(chart, changed, tmp_path) != before
    assert _checksums(chart, other, tmp_path) == before
