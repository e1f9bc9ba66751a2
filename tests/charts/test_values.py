"""Every chart in components/charts.py against ../shared/upstream: the pin, every value the program sets, the values
schema, the custom resources the program (and rook-ceph-cluster, from its values) makes; each check shown failing.

Under Pulumi's mocks a Chart or Release is not rendered, so what Helm would do is imitated here: value keys against the
chart's defaults, the merged values against values.schema.json, objects against the pinned CRDs made strict (an API
server prunes an unknown field instead of refusing it). Rendering with Helm and applying to a real API server is the
real check (tests that need .tools/bin).
"""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from jsonschema import Draft7Validator

from components import charts
from components.render.charts import descheduler

from ..checks import charts as upstream
from ..checks.schemas import coalesce, crd_errors, unknown_helm_keys
from ..conftest import STACKS, filled_objects, require_shared

# Maps that take any key, each checked another way below.
FREE_FORM = {
    "cert-manager": ("config",),  # the controller's ControllerConfiguration (cert-manager's own schema leaves it open)
    "descheduler": ("deschedulerPolicy",),  # the policy: its plugins and their arguments against the chart's default policy
    # The specs of the CephCluster, CephBlockPools and CephFilesystems the chart makes: against the Rook CRDs.
    "rook-ceph-cluster": ("cephClusterSpec", "cephBlockPools[].spec", "cephFileSystems[].spec"),
    # argocd-cm and argocd-cmd-params-cm entries, the config-management plugins, the notifications' services, templates,
    # triggers and subscriptions: see the Argo CD tests below. The plugin's sidecar and volumes and the HTTPRoute's parent
    # are Kubernetes objects' fields (lists empty by default): the real API server checks them (test_apply_real.py).
    "argo-cd": ("configs.cm", "configs.params", "configs.cmp.plugins", "notifications.notifiers", "notifications.templates",
                "notifications.triggers", "notifications.subscriptions", "repoServer.extraContainers", "repoServer.volumes",
                "server.httproute.parentRefs"),
    # Alertmanager's configuration (amtool's format), Prometheus's and Alertmanager's specs the operator's CRDs check
    # (the Prometheus and Alertmanager objects the chart renders: test_helm_template.py), pod metadata.
    # Prometheus's own scrape_config format (the operator passes it through; Debian's promtool lacks Kubernetes discovery).
    "kube-prometheus-stack": ("alertmanager.config", "alertmanager.alertmanagerSpec.podMetadata",
                              "alertmanager.alertmanagerSpec.storage", "prometheus.prometheusSpec.externalLabels",
                              "prometheus.prometheusSpec.storageSpec", "prometheus.prometheusSpec.remoteWrite",
                              "prometheus.prometheusSpec.additionalScrapeConfigs", "defaultRules.rules"),
    "prometheus-blackbox-exporter": ("config.modules",),  # the exporter's modules (blackbox.yml)
    "fluent-bit": ("env", "tolerations"),  # Kubernetes EnvVars and Tolerations: the API server's strict check
    # Loki's own configuration blocks, passed through into config.yaml (the rendered file: test_helm_template.py)
    "loki": ("loki.limits_config", "loki.compactor", "loki.rulerConfig", "loki.schemaConfig"),
    # grafana.ini, the provisioned data sources and environment variables from Secrets: Grafana's own formats
    "grafana": ("grafana.ini", "datasources", "envValueFrom", "podAnnotations"),
}
# Keys a chart's templates read (`.Values.<key>`) that its values.yaml shows only in a comment.
COMMENTED = {"grafana": ("podAnnotations",)}
def chart_defaults(chart: charts.Chart) -> dict:
    """The chart's defaults, with the keys its values.yaml only shows in a comment."""
    return {**{key: {} for key in COMMENTED.get(chart.name, ())}, **upstream.defaults(chart)}


def chart_values(run) -> dict[str, tuple]:
    """chart name -> (artifact, values as published)."""
    return {a.chart: (a, yaml.safe_load(text)) for a, text in run.artifacts if a.kind == "helm-values"}


def kubernetes_objects(run) -> list[dict]:
    """Every object of every kubernetes/*.yaml, placeholders filled with fakes of the right shape."""
    return [doc for a, text in run.artifacts if a.kind == "kubernetes" for doc in filled_objects(text)]


def leaf_paths(values, free_form: tuple[str, ...], path: tuple = ()) -> list[tuple]:
    """Paths to every key the values set outside free-form maps (list items as their index)."""
    dotted = re.sub(r"\.\[", "[", ".".join("[]" if isinstance(p, int) else p for p in path))
    if path and dotted in free_form:
        return []
    if isinstance(values, dict):
        return [p for key, value in values.items() for p in [path + (key,)] + leaf_paths(value, free_form, path + (key,))]
    if isinstance(values, list):
        return [p for i, item in enumerate(values) for p in leaf_paths(item, free_form, path + (i,))]
    return []


# --------------------------------------------------------------------------- the pins


@pytest.mark.parametrize("chart", charts.ALL, ids=lambda c: c.name)
def test_the_pin_is_the_chart_in_shared_upstream(chart):
    require_shared()
    meta = yaml.safe_load((upstream.folder(chart) / "Chart.yaml").read_text())
    assert (meta["name"], meta["version"]) == (chart.name, chart.version), "the complete chart the tests use is the pinned one"
    assert (upstream.UPSTREAM / chart.upstream / "values.yaml").is_file()
    readme = (upstream.UPSTREAM / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith(f"| {chart.upstream} |"))
    assert f"| {chart.version} |" in row and chart.repository.rstrip("/") in row, row


@pytest.mark.parametrize("stack", STACKS)
def test_every_chart_publishes_its_values_at_the_version_it_installs(stack_runs, stack):
    run = stack_runs[stack]
    published = chart_values(run)
    assert set(published) == {c.name for c in upstream.stack_charts(stack)}
    for chart in upstream.stack_charts(stack):
        artifact, values = published[chart.name]
        assert artifact.path == f"helm/{chart.name}-values.yaml" and artifact.version == chart.version
        resource = run.named(chart.release or chart.name, "Release" if chart.kind == "release" else "Chart")
        assert resource.inputs["values"] == values and resource.inputs["version"] == chart.version, chart.name
        assert (resource.inputs["namespace"], resource.inputs["chart"]) == (chart.namespace, chart.reference(None)[0])
        if chart.release is not None:
            assert resource.inputs["name"] == chart.release


# --------------------------------------------------------------------------- values against the defaults


@pytest.mark.parametrize("stack, chart", [(s, c) for s in STACKS for c in upstream.stack_charts(s)], ids=lambda v: getattr(v, "name", v))
def test_every_value_exists_in_the_chart_defaults(stack_runs, stack, chart):
    require_shared()
    _, values = chart_values(stack_runs[stack])[chart.name]
    assert unknown_helm_keys(values, chart_defaults(chart), FREE_FORM.get(chart.name, ())) == []


@pytest.mark.parametrize("chart", charts.ALL, ids=lambda c: c.name)
def test_a_misspelled_value_is_caught_wherever_it_is(stack_runs, chart):
    """Each key the program sets, misspelled in turn, is reported by its path."""
    require_shared()
    _, values = chart_values(stack_runs[next(s for s in STACKS if chart in upstream.stack_charts(s))])[chart.name]
    defaults, free = chart_defaults(chart), FREE_FORM.get(chart.name, ())
    paths = leaf_paths(values, free)
    assert paths
    for path in paths:
        broken = copy.deepcopy(values)
        node = broken
        for part in path[:-1]:
            node = node[part]
        node[path[-1] + "x"] = node.pop(path[-1])
        where = ".".join(str(p) for p in path[:-1] + (path[-1] + "x",))
        where = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", where)
        assert where in unknown_helm_keys(broken, defaults, free), (chart.name, where)


@pytest.mark.parametrize("chart", [charts.BY_NAME[name] for name in COMMENTED], ids=lambda c: c.name)
def test_a_commented_key_is_one_the_chart_reads(chart):
    """A key taken although the defaults only show it in a comment: the comment is there and a template reads it."""
    require_shared()
    text = (upstream.UPSTREAM / chart.upstream / "values.yaml").read_text()
    templates = "".join(p.read_text() for p in (upstream.folder(chart) / "templates").rglob("*") if p.is_file())
    for key in COMMENTED[chart.name]:
        assert re.search(rf"^# {key}:", text, re.M) and f".Values.{key}" in templates, key


# Values of the wrong type, which only the chart's values.schema.json catches.
WRONG_TYPES = {"cilium": ("operator", {"replicas": "2"}), "metallb": ("speaker", {"tolerateMaster": "no"}),
               "cert-manager": ("replicaCount", "two"), "loki": ("singleBinary", {"replicas": "one"})}


# The charts with a values.schema.json of their own or of a subchart (cilium, metallb and its frr-k8s, cert-manager).
WITH_SCHEMA = [c for c in charts.ALL if upstream.schemas(c)] if upstream.CHARTS.is_dir() else list(charts.ALL)


@pytest.mark.parametrize("stack, chart", [(s, c) for s in STACKS for c in WITH_SCHEMA if c in upstream.stack_charts(s)], ids=lambda v: getattr(v, "name", v))
def test_the_merged_values_pass_the_charts_schemas(stack_runs, stack, chart):
    require_shared()
    found = upstream.schemas(chart)
    _, values = chart_values(stack_runs[stack])[chart.name]
    merged = coalesce(upstream.defaults(chart), values)
    for key, schema in found:
        checked = merged if key is None else merged.get(key, {})
        assert [e.message for e in Draft7Validator(schema).iter_errors(checked)] == [], (chart.name, key)
    if chart.name in WRONG_TYPES:
        key, wrong = WRONG_TYPES[chart.name]
        broken = coalesce(upstream.defaults(chart), {**values, key: wrong})
        assert list(Draft7Validator(found[0][1]).iter_errors(broken)), f"{chart.name}: {key}={wrong!r} must fail its schema"


# --------------------------------------------------------------------------- objects against the CRDs


@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_resource_validates_against_its_crd(stack_runs, stack):
    require_shared()
    objects = kubernetes_objects(stack_runs[stack])
    custom = [o for o in objects if (o["apiVersion"], o["kind"]) not in upstream.CORE_KINDS]
    assert {o["kind"] for o in custom} >= {"IPAddressPool", "BGPPeer", "BGPAdvertisement", "GatewayClass", "Gateway", "HTTPRoute",
                                           "EnvoyProxy", "ClusterIssuer", "Certificate"}
    assert crd_errors(custom, upstream.crd_dirs()) == []
    for obj in custom:
        broken = copy.deepcopy(obj)
        broken["spec"]["contestTypo"] = True
        assert crd_errors([broken], upstream.crd_dirs()), f"{obj['kind']}/{obj['metadata']['name']}: a misspelled field must fail"


def test_the_crd_check_rejects_misspelled_and_mistyped_fields(stack_runs):
    require_shared()
    objects = {(o["kind"], o["metadata"]["name"]): o for o in kubernetes_objects(stack_runs["prd"])}
    issuer = copy.deepcopy(objects[("ClusterIssuer", "letsencrypt-production")])
    issuer["spec"]["acme"]["solvers"][0]["http01"]["gatewayHTTPRoute"]["parentRef"] = []
    certificate = copy.deepcopy(objects[("Certificate", "global-gateway")])
    certificate["spec"]["privateKey"]["algorithm"] = "ED448"
    gateway = copy.deepcopy(objects[("Gateway", "global")])
    gateway["spec"]["listeners"][1]["port"] = "443"
    for broken, text in ((issuer, "parentRef"), (certificate, "ED448"), (gateway, "'443'")):
        errors = crd_errors([broken], upstream.crd_dirs())
        assert any(text in e for e in errors), (broken["kind"], errors)


def _rook_cluster_objects(values: dict) -> list[dict]:
    """The Ceph custom resources rook-ceph-cluster makes from its values (templates/cephcluster.yaml, cephblockpool.yaml,
    cephfilesystem.yaml), from the values as Helm merges them."""
    merged = coalesce(upstream.defaults(charts.ROOK_CEPH_CLUSTER), values)
    spec = {"monitoring": {"enabled": merged["monitoring"]["enabled"]},
            "cephVersion": {"image": f"{merged['cephImage']['repository']}:{merged['cephImage']['tag']}",
                            "allowUnsupported": merged["cephImage"]["allowUnsupported"]},
            **merged["cephClusterSpec"]}
    made = [{"apiVersion": "ceph.rook.io/v1", "kind": "CephCluster", "metadata": {"name": "rook-ceph"}, "spec": spec}]
    made += [{"apiVersion": "ceph.rook.io/v1", "kind": "CephBlockPool", "metadata": {"name": p["name"]}, "spec": p["spec"]}
             for p in merged["cephBlockPools"]]
    made += [{"apiVersion": "ceph.rook.io/v1", "kind": "CephFilesystem", "metadata": {"name": f["name"]}, "spec": f["spec"]}
             for f in merged["cephFileSystems"]]
    return made


@pytest.mark.parametrize("stack", STACKS)
def test_the_ceph_resources_rook_makes_from_the_values_validate_against_its_crds(stack_runs, stack):
    require_shared()
    _, values = chart_values(stack_runs[stack])[charts.ROOK_CEPH_CLUSTER.name]
    made = _rook_cluster_objects(values)
    assert [o["kind"] for o in made] == ["CephCluster", "CephBlockPool", "CephFilesystem"]
    crds = upstream.UPSTREAM / charts.ROOK_CEPH.upstream / "crds"
    assert crd_errors(made, crds) == []
    storage = made[0]["spec"]["storage"]
    assert storage["useAllNodes"] is False and storage["useAllDevices"] is False, "never every node or every device"
    assert [n["devices"] for n in storage["nodes"]] == [[{"name": "vdb"}]] * 3
    broken = copy.deepcopy(values)
    broken["cephClusterSpec"]["storage"]["nodes"][0]["devices"] = [{"nmae": "vdb"}]
    broken["cephBlockPools"][0]["spec"]["replicated"]["sizes"] = 3
    errors = crd_errors(_rook_cluster_objects(broken), crds)
    assert any("nmae" in e for e in errors) and any("sizes" in e for e in errors), errors


def test_the_descheduler_policy_uses_the_charts_own_plugins_and_arguments():
    """The policy is free-form in the chart's values: every plugin it names, and every argument it gives one, is in the
    chart's default policy (where the plugin names and argument names of this descheduler version are)."""
    require_shared()
    default = upstream.defaults(charts.DESCHEDULER)["deschedulerPolicy"]["profiles"][0]

    def problems(profile: dict) -> list[str]:
        known = {p["name"]: p.get("args", {}) for p in default["pluginConfig"]}
        found = []
        for plugin in profile["pluginConfig"]:
            if plugin["name"] not in known:
                found.append(plugin["name"])
            else:
                found += [f"{plugin['name']}.{key}" for key in unknown_helm_keys(plugin.get("args", {}), known[plugin["name"]])]
        configured = {p["name"] for p in profile["pluginConfig"]}
        for point, plugins in profile["plugins"].items():
            found += [f"{point}.{name}" for name in plugins["enabled"] if name not in configured or point not in default["plugins"]]
        return found

    ours = descheduler.policy()["profiles"][0]
    assert problems(ours) == []
    broken = copy.deepcopy(ours)
    broken["pluginConfig"][3]["name"] = "LowNodeUtilisation"
    broken["pluginConfig"][3]["args"]["targetThreshold"] = {}
    assert "LowNodeUtilisation" in problems(broken) and "balance.LowNodeUtilization" in problems(broken)
    broken = copy.deepcopy(ours)
    broken["pluginConfig"][3]["args"]["targetThreshold"] = {}
    assert problems(broken) == ["LowNodeUtilization.targetThreshold"]
