"""The monitoring layer under mocks: Prometheus's retention and volume, where metrics and logs go between clusters, the
dead man's switch and heartbeat, Grafana and its dashboards, checksum annotations, secrets, order, the stack keys and
their rules; with the layer off, nothing of it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from components import charts
from components.config import PROJECT, ConfigError
from components.mocking import fake_block
from components.offline import PROJECT_ROOT, ProgramRun, load_stack, manifest
from components.plan import GlobalBlock, build_plan, prometheus_retention_gib
from components.render import dashboards
from components.render.charts import monitoring_endpoints, monitoring_steps, zabbix
from components.render.charts.kube_prometheus_stack import CANNOT_NOTIFY, NOT_SENT

from ..conftest import STACKS, UPSTREAM, both, refusal, require_shared, run_stack, set_key, write_stack
from .test_addons import Graph, chart_resource

K = PROJECT + ":"
GIB = re.compile(r"(\d+)GiB")


def layer_resources(run: ProgramRun) -> list:
    layer = run.named("monitoring", "Monitoring")
    return [r for r in run.resources if r.parent == layer.urn]


def values(run: ProgramRun, chart: charts.Chart) -> dict:
    return chart_resource(run, chart).inputs["values"]


def plan_of(stack: str, config_file=None):
    loaded = load_stack(stack, config_file)[0]
    return build_plan(loaded, GlobalBlock.assumed(fake_block(stack, loaded.config.network.global_prefix_length)))


# --------------------------------------------------------------------------- Prometheus's volume and retention


@pytest.mark.parametrize("stack", STACKS)
def test_retention_by_size_stays_below_the_volume(stack_runs, stack):
    spec = values(stack_runs[stack], charts.KUBE_PROMETHEUS_STACK)["prometheus"]["prometheusSpec"]
    volume = int(spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"].removesuffix("Gi"))
    retention = int(GIB.fullmatch(spec["retentionSize"]).group(1))
    assert retention < volume and volume - retention >= 4, (stack, retention, volume)
    assert volume == load_stack(stack)[0].config.monitoring.prometheus.volume_gb, "the volume is the one config value"


def test_retention_leaves_headroom_for_every_volume_the_config_accepts():
    for volume in range(10, 70000):
        retention = prometheus_retention_gib(volume)
        assert 0 < retention < volume and volume - retention >= max(4, volume * 0.2), volume


@pytest.mark.parametrize("volume", [9, 0, -50, "50Gi"])
def test_a_volume_that_leaves_no_room_for_retention_is_refused(tmp_path, volume):
    path = write_stack(tmp_path, "prd", set_key("monitoring.prometheus.volumeGb", volume))
    with pytest.raises(ConfigError, match=r"monitoring\.prometheus\.volumeGb: expected (a volume size \(GiB\) from 10|an integer)"):
        load_stack("prd", path)


# --------------------------------------------------------------------------- between clusters


def test_prd_and_dev_send_to_wsp_over_the_tunnel(stack_runs):
    wsp = plan_of("wsp")
    endpoints = monitoring_endpoints(wsp)
    assert endpoints == {"cluster": "wsp", "prometheus": "http://10.3.1.1/prometheus", "loki": "http://10.3.1.1/loki/api/v1/push"}
    assert str(wsp.monitoring.private_gateway) in {str(n.network_address + 1) for n in (wsp.pool("private").networks)}
    for stack in ("prd", "dev"):
        kps = values(stack_runs[stack], charts.KUBE_PROMETHEUS_STACK)["prometheus"]["prometheusSpec"]
        assert kps["remoteWrite"] == [{"url": "http://10.3.1.1/prometheus/api/v1/write", "writeRelabelConfigs": [NOT_SENT]}]
        assert kps["externalLabels"] == {"cluster": stack} and kps["enableRemoteWriteReceiver"] is False
        outputs = values(stack_runs[stack], charts.FLUENT_BIT)["config"]["outputs"]
        assert outputs.count("Host 10.3.1.1\n") == 2 and f"cluster={stack}," in outputs
        # wsp's private pool goes through the tunnel: its router is a WireGuard peer of this one
        assert "10.3.1.0/24" in stack_runs[stack].artifact("router/router/wg0.conf")
    spec = values(stack_runs["wsp"], charts.KUBE_PROMETHEUS_STACK)["prometheus"]["prometheusSpec"]
    assert spec["remoteWrite"] == [] and spec["enableRemoteWriteReceiver"] is True
    assert "Host loki-gateway.monitoring\n" in values(stack_runs["wsp"], charts.FLUENT_BIT)["config"]["outputs"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_log_agent_keeps_its_place_and_its_backlog_on_the_host(stack_runs, stack):
    """A restarted agent (a rollout, a reboot) resumes where it was, and lines wait on the node while the logs cannot be
    sent: each input has a position DB and a filesystem buffer under the host's /var/log, each output a cap."""
    config = values(stack_runs[stack], charts.FLUENT_BIT)["config"]
    inputs = [block for block in config["inputs"].split("[INPUT]") if block.strip()]
    assert len(inputs) == 2
    for block in inputs:
        assert re.search(r"^\s+DB /var/log/\S+\.db$", block, re.M) and re.search(r"^\s+storage\.type filesystem$", block, re.M), block
    assert re.search(r"^\s+storage\.path /var/log/\S+/$", config["service"], re.M)
    assert re.search(r"^\s+scheduler\.cap 60$", config["service"], re.M), "a backlog goes out within a minute of Loki answering"
    assert config["outputs"].count("storage.total_limit_size") == config["outputs"].count("[OUTPUT]") == 2
    databases = re.findall(r"DB (\S+)", config["inputs"])
    assert len(set(databases)) == 2, databases
    require_shared()
    chart = yaml.safe_load((UPSTREAM / "charts" / f"fluent-bit-{charts.FLUENT_BIT.version}" / "values.yaml").read_text())
    default = next(m for m in chart["daemonSetVolumeMounts"] if m["mountPath"] == "/var/log")
    assert not default.get("readOnly"), "the chart mounts the host's /var/log read-write"
    assert [v["hostPath"]["path"] for v in chart["daemonSetVolumes"] if v["name"] == default["name"]] == ["/var/log"]


def test_wsp_shows_every_cluster(stack_runs):
    sources = values(stack_runs["wsp"], charts.GRAFANA)["datasources"]["datasources.yaml"]["datasources"]
    assert {s["name"]: s.get("url") for s in sources if s["type"] == "prometheus"} == {
        "Prometheus (wsp)": "http://kube-prometheus-stack-prometheus.monitoring:9090",
        "Prometheus (prd)": "http://10.1.1.1/prometheus", "Prometheus (dev)": "http://10.2.1.1/prometheus"}
    assert {s["type"] for s in sources} == {"prometheus", "loki", "alertmanager", "alexanderzobnin-zabbix-datasource"}
    assert [s["name"] for s in sources if s.get("isDefault")] == ["Prometheus (wsp)"]
    assert stack_runs["wsp"].outputs["monitoring"]["loki"] == "http://10.3.1.1/loki/api/v1/push"


def _rules(run: ProgramRun, name: str) -> list[dict]:
    rule = run.named(f"kube-prometheus-stack-prometheusrule-{name}")
    return [r for group in rule.inputs["spec"]["groups"] for r in group["rules"]]


def test_the_dead_mans_switch_and_the_heartbeat(stack_runs):
    """wsp alerts when prd or dev goes silent; dev watches wsp's Watchdog and Alertmanager through wsp's Prometheus."""
    silent = _rules(stack_runs["wsp"], "clusters-reporting")
    assert {r["alert"] for r in silent} == {"ClusterStoppedReporting"}
    assert sorted(r["expr"] for r in silent) == ['absent_over_time(up{cluster="dev"}[5m])', 'absent_over_time(up{cluster="prd"}[5m])']
    heartbeat = {r["alert"]: r["expr"] for r in _rules(stack_runs["dev"], "heartbeats")}
    assert set(heartbeat) == {"HeartbeatMissing", "PeerAlertmanagerDown", "PeerAlertmanagerCannotNotify"}
    assert all('cluster="wsp"' in e for e in heartbeat.values())
    scrape = {c["job_name"]: c for c in values(stack_runs["dev"], charts.KUBE_PROMETHEUS_STACK)["prometheus"]["prometheusSpec"][
        "additionalScrapeConfigs"]}
    federate = scrape["heartbeat-wsp"]
    assert federate["static_configs"][0]["targets"] == ["10.3.1.1"] and federate["metrics_path"] == "/prometheus/federate"
    assert federate["honor_labels"] is True and 'ALERTS{alertname="Watchdog"}' in federate["params"]["match[]"]
    # wsp's own alerts of failing notifications: the chart's rule names, federated and raised again in dev
    require_shared()
    chart_rules = (UPSTREAM / "charts" / f"kube-prometheus-stack-{charts.KUBE_PROMETHEUS_STACK.version}" / "templates" / "prometheus"
                   / "rules-1.14" / "alertmanager.rules.yaml").read_text()
    for name in ("AlertmanagerFailedToSendAlerts", "AlertmanagerClusterFailedToSendAlerts"):
        assert f"alert: {name}\n" in chart_rules and name in heartbeat["PeerAlertmanagerCannotNotify"]
    assert f'ALERTS{{alertname=~"{CANNOT_NOTIFY}"}}' in federate["params"]["match[]"]
    for stack in ("prd", "wsp"):
        assert not [r for r in layer_resources(stack_runs[stack]) if r.name.endswith("prometheusrule-heartbeats")]
    # wsp's own Watchdog is the heartbeat: its Alertmanager sends it nowhere itself
    routes = values(stack_runs["wsp"], charts.KUBE_PROMETHEUS_STACK)["alertmanager"]["config"]["route"]["routes"]
    assert {"receiver": "null", "matchers": ['alertname = "Watchdog"']} in routes


def _routed(config: dict, labels: dict) -> str:
    """The receiver Alertmanager's routing tree picks for an alert with `labels` (first matching route; the matchers
    this layer writes: =, !=, =~)."""
    def matches(matcher: str) -> bool:
        name, op, value = re.fullmatch(r'(\w+) (=~|!=|=) "(.*)"', matcher).groups()
        given = labels.get(name, "")
        return {"=": given == value, "!=": given != value, "=~": re.fullmatch(value, given) is not None}[op]
    route = config["route"]
    return next((r["receiver"] for r in route["routes"] if all(map(matches, r["matchers"]))), route["receiver"])


def test_a_sender_keeps_its_own_rule_results_and_the_receiver_sends_only_its_own_alerts(stack_runs):
    """prd's and dev's recording-rule series and alerts stay home: wsp's rules make the same series from the raw samples,
    and a series from two writers makes wsp refuse whole batches. wsp's rules also fire over prd's raw series: those
    alerts are prd's own to send (no alert twice), except wsp's dead man's switch for prd."""
    keep = re.compile(NOT_SENT["regex"])
    assert NOT_SENT["action"] == "drop"
    assert [n for n in ("node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate", "ALERTS",
                        "ALERTS_FOR_STATE", "instance:node_cpu_utilisation:rate5m") if not keep.fullmatch(n)] == []
    assert [n for n in ("up", "node_cpu_seconds_total", "kubelet_volume_stats_available_bytes") if keep.fullmatch(n)] == []
    config = values(stack_runs["wsp"], charts.KUBE_PROMETHEUS_STACK)["alertmanager"]["config"]
    assert _routed(config, {"alertname": "KubePodCrashLooping", "cluster": "prd", "severity": "warning"}) == "null"
    assert _routed(config, {"alertname": "ClusterStoppedReporting", "cluster": "prd", "severity": "critical"}) == "slack"
    assert _routed(config, {"alertname": "KubePodCrashLooping", "cluster": "wsp", "severity": "warning"}) == "slack"
    assert _routed(config, {"alertname": "PrometheusDeletingBySize", "cluster": "wsp", "severity": "info"}) == "null"
    prd = values(stack_runs["prd"], charts.KUBE_PROMETHEUS_STACK)["alertmanager"]["config"]
    assert _routed(prd, {"alertname": "KubePodCrashLooping", "cluster": "prd", "severity": "warning"}) == "slack"


def test_a_peer_not_deployed_yet_is_left_out_and_still_watched(tmp_path):
    """wsp before prd exists: no data source, no remote write target yet, a warning; the dead man's switch is there."""
    def rename(c):
        c[K + "wireguard"]["clusterPeers"] = {"prd": "organization/contest-k8s/prd-later", "dev": "organization/contest-k8s/dev"}
    run = run_stack("wsp", write_stack(tmp_path, "wsp", rename))
    names = [s["name"] for s in values(run, charts.GRAFANA)["datasources"]["datasources.yaml"]["datasources"]]
    assert "Prometheus (prd)" not in names and "Prometheus (dev)" in names
    assert 'absent_over_time(up{cluster="prd"}[5m])' in [r["expr"] for r in _rules(run, "clusters-reporting")]

    def orphan(c):
        c[K + "wireguard"]["clusterPeers"] = {"wsp": "organization/contest-k8s/wsp-later"}
    run = run_stack("prd", write_stack(tmp_path, "prd", orphan))
    assert values(run, charts.KUBE_PROMETHEUS_STACK)["prometheus"]["prometheusSpec"]["remoteWrite"] == []
    assert not [a for a, _ in run.artifacts if a.chart == "fluent-bit"], "no agent until its logs have somewhere to go"


# --------------------------------------------------------------------------- what is scraped and probed


def test_nodes_ceph_router_gateway_and_public_endpoints_are_scraped(stack_runs):
    run = stack_runs["prd"]
    kps = values(run, charts.KUBE_PROMETHEUS_STACK)
    jobs = {c["job_name"]: c for c in kps["prometheus"]["prometheusSpec"]["additionalScrapeConfigs"]}
    assert jobs["router"]["static_configs"][0]["targets"] == ["10.1.0.1:9100"]
    assert "frrmetricshttps" in json.dumps(jobs["frr-k8s"])
    monitors = {r.name for r in layer_resources(run) if r.type.endswith(("ServiceMonitor", "PodMonitor"))}
    assert monitors == {"kube-prometheus-stack-servicemonitor-rook-ceph-mgr", "kube-prometheus-stack-servicemonitor-envoy-gateway",
                        "kube-prometheus-stack-podmonitor-envoy-proxies"}
    probe = run.named("blackbox-exporter-probe-public-endpoints")
    assert probe.inputs["spec"]["targets"]["staticConfig"]["static"] == ["https://score.contest.example.org/"]
    assert probe.inputs["spec"]["prober"]["url"] == "prometheus-blackbox-exporter.monitoring:9115"
    for selector in ("NilUsesHelmValues",):
        assert all(v is False for k, v in kps["prometheus"]["prometheusSpec"].items() if k.endswith(selector))
    # the router serves them: node exporter on its private address (frr), telegraf (VyOS)
    base = run.artifact("router/router/apply-base.sh")
    assert "--web.listen-address=10.1.0.1:9100" in base and "contest_router_ecmp_next_hops" in base


def test_the_vyos_router_serves_its_metrics_on_the_private_address(vyos_runs):
    commands = vyos_runs["prd"].artifact("router/router/base.vyos")
    assert "set service monitoring telegraf prometheus-client listen-address '10.1.0.1'" in commands
    assert "set service monitoring telegraf prometheus-client allow-from '10.1.0.0/24'" in commands
    jobs = values(vyos_runs["prd"], charts.KUBE_PROMETHEUS_STACK)["prometheus"]["prometheusSpec"]["additionalScrapeConfigs"]
    assert jobs[0]["static_configs"][0]["targets"] == ["10.1.0.1:9273"]


def test_alertmanager_sends_to_slack_with_the_webhook_from_a_secret(stack_runs, tmp_path):
    run = stack_runs["prd"]
    am = values(run, charts.KUBE_PROMETHEUS_STACK)["alertmanager"]
    slack = am["config"]["receivers"][1]["slack_configs"][0]
    assert slack["channel"] == "#alerts-prd" and slack["api_url_file"] == "/etc/alertmanager/secrets/alertmanager-slack/webhook-url"
    assert "api_url" not in slack and am["alertmanagerSpec"]["secrets"] == ["alertmanager-slack"]
    secret = run.named("monitoring-secrets-secret-alertmanager-slack", "Secret")
    assert "stringData" in secret.secret_inputs and secret.inputs["stringData"]["webhook-url"] == ""

    def with_webhook(c):
        c[K + "slackWebhookUrl"] = {"secure": "v1:AAAAAAAAAAAAAAAA:fake"}
    run = run_stack("prd", write_stack(tmp_path, "prd", with_webhook))
    secret = run.named("monitoring-secrets-secret-alertmanager-slack", "Secret")
    assert "stringData" in secret.secret_inputs and secret.inputs["stringData"]["webhook-url"] == "<secret:stack-config>"
    assert "v1:" not in json.dumps(values(run, charts.KUBE_PROMETHEUS_STACK))


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_never_reach_helm_values_or_plain_state(stack_runs, stack):
    run = stack_runs[stack]
    for chart in charts.MONITORING:
        if any(a.chart == chart.name for a, _ in run.artifacts):
            resource = chart_resource(run, chart)
            assert not [p for p in resource.secret_inputs if p.startswith("values")], chart.name
            assert "<secret:" not in run.artifact(f"helm/{chart.name}-values.yaml")
    for secret in (r for r in layer_resources(run) if r.type == "kubernetes:core/v1:Secret"):
        assert "stringData" in secret.secret_inputs and "metadata" not in secret.secret_inputs, secret.name
    entry = next(e for e in manifest(run)["artifacts"] if e["path"] == "kubernetes/monitoring-secrets.yaml")
    assert "slack-webhook-url" in entry["secrets"]


# --------------------------------------------------------------------------- order


@pytest.mark.parametrize("stack", STACKS)
def test_the_layer_comes_after_the_nodes_and_the_gateways_and_what_binds_a_volume_after_ceph(stack_runs, stack):
    """Prometheus and Alertmanager start beside Ceph (the operator makes their claims later; they bind once Ceph serves
    them: a fresh prd is ready 4 minutes sooner); a chart that waits for its own volume starts after the Ceph cluster;
    the log agent starts beside Ceph too (in wsp 4 minutes sooner)."""
    run = stack_runs[stack]
    graph = Graph(run)
    kps = chart_resource(run, charts.KUBE_PROMETHEUS_STACK)
    ceph = chart_resource(run, charts.ROOK_CEPH_CLUSTER)
    assert graph.reaches(kps, run.named("nodes-ready", "Command")) and not graph.reaches(kps, ceph)
    storage = {"loki": chart_resource(run, charts.LOKI), "grafana": chart_resource(run, charts.GRAFANA)} if stack == "wsp" else {}
    storage.update({r.name: r for r in layer_resources(run) if r.name.startswith("zabbix-") and r.type.endswith(("StatefulSet", "Deployment"))})
    assert (len(storage) >= 3) == (stack == "wsp"), storage.keys()
    for name, resource in storage.items():
        assert graph.reaches(resource, ceph), f"{name} waits for its volume: after the Ceph cluster"
    assert graph.reaches(kps, run.named("monitoring-secrets-secret-alertmanager-slack", "Secret"))
    provider = run.named("kubernetes", "providers:kubernetes")
    for r in layer_resources(run):
        if r.type.startswith("kubernetes:") and r.custom:
            assert r.provider == f"{provider.urn}::{provider.id}", r.name
        if r.type.startswith("kubernetes:monitoring.coreos.com"):
            assert graph.reaches(r, kps), f"{r.name} after the CRDs"
        if r.type.endswith("HTTPRoute"):
            assert graph.reaches(r, run.named("gateway-gateway-private" if r.name != "grafana-httproute-grafana" else "gateway-gateway-global"))
    agent = chart_resource(run, charts.FLUENT_BIT)
    assert graph.reaches(agent, run.named("nodes-ready", "Command")) and not graph.reaches(agent, ceph), \
        "the log agent buffers until Loki answers: it waits for no volume, in wsp for no Loki either"
    if stack == "wsp":
        assert graph.reaches(chart_resource(run, charts.GRAFANA), run.named("monitoring-secrets-secret-grafana-admin", "Secret"))


@pytest.mark.parametrize("stack", STACKS)
def test_the_layer_applies_the_rendered_steps(stack_runs, stack):
    run = stack_runs[stack]
    plan = plan_of(stack)
    peers = {name: monitoring_endpoints(plan_of(name)) for name in ("prd", "dev", "wsp") if name != stack}
    steps = monitoring_steps(plan, peers, dashboards.load(PROJECT_ROOT))
    for step in steps:
        if step.chart is not None:
            assert yaml.safe_load(run.artifact(f"helm/{step.chart.name}-values.yaml")) == step.values
        if step.objects:
            assert [d for d in yaml.safe_load_all(run.artifact(f"kubernetes/{step.name}.yaml")) if d] == list(step.objects)
    installed = [s.chart for s in steps if s.chart]
    assert installed == [c for c in charts.MONITORING if c in installed]
    assert (charts.GRAFANA in installed) == (charts.LOKI in installed) == (stack == "wsp")


# --------------------------------------------------------------------------- Grafana and the dashboards


def test_grafana_signs_in_with_github_teams_by_number(stack_runs):
    v = values(stack_runs["wsp"], charts.GRAFANA)
    github = v["grafana.ini"]["auth.github"]
    assert github["team_ids"] == "1234567" and github["allowed_organizations"] == "ictsc" and "client_secret" not in github
    assert v["envValueFrom"]["GF_AUTH_GITHUB_CLIENT_SECRET"] == {"secretKeyRef": {"name": "grafana-github-oauth", "key": "client-secret"}}
    assert v["plugins"] == ["alexanderzobnin-zabbix-app"] and v["replicas"] == 1 and v["persistence"]["enabled"] is True
    assert v["deploymentStrategy"] == {"type": "Recreate"}, "its ReadWriteOnce volume is let go before the new pod starts"
    assert v["admin"]["existingSecret"] == "grafana-admin"
    route = stack_runs["wsp"].named("grafana-httproute-grafana")
    assert route.inputs["spec"]["hostnames"] == ["grafana.wsp.contest.example.org"]


def test_more_grafana_replicas_with_an_external_database(tmp_path):
    def two(c):
        c[K + "monitoring"]["grafana"].update(replicas=2, database={"type": "postgres", "host": "db.example.org:5432", "name": "grafana",
                                                                   "user": "grafana"})
        c[K + "grafanaDatabasePassword"] = {"secure": "v1:AAAAAAAAAAAAAAAA:fake"}
    run = run_stack("wsp", write_stack(tmp_path, "wsp", two))
    v = values(run, charts.GRAFANA)
    assert v["replicas"] == 2 and v["persistence"]["enabled"] is False and v["deploymentStrategy"] == {"type": "RollingUpdate"}
    assert v["grafana.ini"]["database"] == {"type": "postgres", "host": "db.example.org:5432", "name": "grafana", "user": "grafana"}
    assert v["envValueFrom"]["GF_DATABASE_PASSWORD"]["secretKeyRef"]["name"] == "grafana-database"


def _dashboard_files() -> list[Path]:
    return sorted((PROJECT_ROOT / "dashboards").glob("*.json"))


def test_the_project_dashboards_are_there_valid_and_stable():
    names = {p.stem for p in _dashboard_files()}
    assert {"cluster-overview", "ceph", "bgp-ecmp", "gateway-traffic", "wireguard-peers", "prometheus-storage", "flows"} <= names
    for path in _dashboard_files():
        board = json.loads(path.read_text())
        assert board["uid"] == f"contest-{path.stem}", "a uid that never changes with the title"
        assert dashboards.problems(path.stem, path.read_text()) == []
        variables = {v["name"] for v in board["templating"]["list"] if v["type"] == "datasource"}
        for panel in board["panels"]:
            uid = panel["datasource"]["uid"]
            assert uid.startswith("${") and uid[2:-1] in variables, (path.name, panel["title"])
            assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
    assert len({json.loads(p.read_text())["uid"] for p in _dashboard_files()}) == len(_dashboard_files())


def test_every_dashboard_is_one_configmap_under_the_limit_and_shown_by_the_render(stack_runs):
    run = stack_runs["wsp"]
    maps = [d for d in yaml.safe_load_all(run.artifact("kubernetes/grafana-dashboards.yaml")) if d]
    files = _dashboard_files()
    assert sorted(m["metadata"]["name"] for m in maps) == sorted(f"dashboard-{p.stem}" for p in files)
    for config_map in maps:
        (key, text), = config_map["data"].items()
        assert text == (PROJECT_ROOT / "dashboards" / key).read_text() and config_map["metadata"]["labels"] == {"grafana_dashboard": "1"}
        assert len(json.dumps(config_map).encode()) < 1024 * 1024
    shown = {a.path: a.kind for a, _ in run.artifacts if a.path.startswith("dashboards/")}
    assert shown == {f"dashboards/{p.name}": "dashboard" for p in files}
    assert not [a for a, _ in stack_runs["prd"].artifacts if a.kind == "dashboard"], "only where Grafana runs"


def _project_with(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "dashboards").mkdir(parents=True)
    for name, text in files.items():
        (tmp_path / "dashboards" / name).write_text(text)
    return tmp_path


def test_an_oversized_or_broken_dashboard_is_refused_by_name(tmp_path):
    good = (PROJECT_ROOT / "dashboards" / "ceph.json").read_text()
    board = json.loads(good)
    board["uid"], board["description"] = "contest-huge", "x" * (1024 * 1024)
    no_variable = json.loads(good)
    no_variable["uid"], no_variable["templating"] = "contest-plain", {"list": []}
    project = _project_with(tmp_path, {"ceph.json": good, "huge.json": json.dumps(board), "broken.json": "{", "plain.json": json.dumps(no_variable),
                                       "copy.json": good, "Bad_Name.json": good})
    with pytest.raises(ConfigError) as caught:
        dashboards.load(project)
    named = {p.key: p.expected for p in caught.value.problems}
    assert set(named) == {"dashboards/huge.json", "dashboards/broken.json", "dashboards/plain.json", "dashboards/copy.json",
                          "dashboards/Bad_Name.json"}
    assert "at most" in named["dashboards/huge.json"] and "what one ConfigMap holds" in named["dashboards/huge.json"]
    assert "data-source variable" in named["dashboards/plain.json"] and "uid of its own" in named["dashboards/copy.json"]
    assert str(caught.value).startswith("invalid stack configuration\ndashboards: dashboards/")
    assert dashboards.load(_project_with(tmp_path / "ok", {"ceph.json": good})) != ()


def test_an_oversized_dashboard_stops_the_program_before_anything_is_made(tmp_path, monkeypatch):
    import pulumi

    from components import stack

    board = json.loads((PROJECT_ROOT / "dashboards" / "ceph.json").read_text())
    board["description"] = "x" * (1024 * 1024)
    project = _project_with(tmp_path, {"ceph.json": json.dumps(board)})
    loaded = load_stack("wsp")[0]
    monkeypatch.setattr(stack, "config_from_pulumi", lambda: loaded)
    monkeypatch.chdir(project)
    with pytest.raises(pulumi.RunError, match=r"dashboards/ceph\.json: expected a dashboard of at most"):
        stack.deploy()


# --------------------------------------------------------------------------- checksums


def _annotations(steps) -> dict[str, str]:
    """Every checksum annotation of the steps' workloads and chart values, by where it is."""
    found = {}
    for step in steps:
        for obj in step.objects:
            if obj["kind"] == "Deployment":
                found[f"{step.name}/{obj['metadata']['name']}"] = json.dumps(obj["spec"]["template"]["metadata"].get("annotations"))
        if step.chart is not None:
            for path in re.findall(r'"(checksum/[a-z-]+)": "([0-9a-f]{64})"', json.dumps(step.values)):
                found[f"{step.name}:{path[0]}"] = path[1]
    return found


def test_checksum_annotations_change_when_their_config_changes_and_only_then(tmp_path):
    boards = dashboards.load(PROJECT_ROOT)
    runs = iter(range(100))

    def annotations(edit=None, dashboards_=boards) -> dict[str, str]:
        directory = tmp_path / str(next(runs))
        directory.mkdir()
        return _annotations(monitoring_steps(plan_of("wsp", write_stack(directory, "wsp", edit)), {}, dashboards_))

    before = annotations()
    assert set(before) == {"zabbix/zabbix-database", "zabbix/zabbix-server", "zabbix/zabbix-web", "flow-collector/flow-collector",
                           "grafana:checksum/secrets", "kube-prometheus-stack:checksum/secrets"}
    for key in ("zabbix/zabbix-server", "zabbix/zabbix-database", "zabbix/zabbix-web"):
        assert "checksum/config" in before[key]

    def changed(edit=None, dashboards_=boards) -> set[str]:
        after = annotations(edit, dashboards_)
        return {k for k in before if after[k] != before[k]}

    assert changed(set_key("monitoring.zabbix.ipmiPollers", 3)) == {"zabbix/zabbix-server"}, "only what reads the settings"
    assert changed(set_key("monitoring.grafana.github", None)) == {"grafana:checksum/secrets"}, "one Secret fewer"
    assert changed(set_key("monitoring.slackChannel", "other")) == set(), "Alertmanager's config reloader takes it live"
    assert changed(set_key("monitoring.grafana.github.teamIds", [7654321])) == set(), "grafana.ini: the chart's own checksum"
    assert changed(dashboards_=boards[:-1]) == set(), "the sidecar reloads dashboards: no restart"
    assert changed() == set(), "the same config, the same checksums"


# --------------------------------------------------------------------------- Zabbix and flows


def test_zabbix_polls_ipmi_and_the_flow_collector_listens_on_the_private_pool(stack_runs):
    run = stack_runs["wsp"]
    settings = run.named("zabbix-configmap-zabbix-server")
    # zabbix-docker 7.0.2 and later (the pinned alpine-7.0.13): docker-entrypoint.sh sets StartIPMIPollers from
    # ZBX_STARTIPMIPOLLERS; the older ZBX_IPMIPOLLERS is ignored there, and Zabbix's default of 0 never polls IPMI.
    assert int(settings.inputs["data"]["ZBX_STARTIPMIPOLLERS"]) >= 1 and "ZBX_IPMIPOLLERS" not in settings.inputs["data"]
    server = run.named("zabbix-deployment-zabbix-server")
    container = server.inputs["spec"]["template"]["spec"]["containers"][0]
    assert {"configMapRef": {"name": "zabbix-server"}} in container["envFrom"] and container["image"].endswith(zabbix.VERSION)
    ui = run.named("zabbix-service-zabbix-ui")
    assert ui.inputs["metadata"]["annotations"] == {"metallb.io/address-pool": "private", "metallb.io/loadBalancerIPs": "10.3.1.3"}
    flows = run.named("flow-collector-service-flow-collector")
    assert flows.inputs["metadata"]["annotations"]["metallb.io/loadBalancerIPs"] == "10.3.1.2"
    assert {(p["port"], p["protocol"]) for p in flows.inputs["spec"]["ports"]} == {(2055, "UDP"), (6343, "UDP"), (4739, "UDP")}
    db = run.named("monitoring-secrets-secret-zabbix-database", "Secret")
    assert "stringData" in db.secret_inputs
    for stack in ("prd", "dev"):
        assert not [r for r in layer_resources(stack_runs[stack]) if r.name.startswith(("zabbix-", "flow-collector-"))]


def test_log_patterns_notify_through_lokis_ruler(stack_runs):
    rules = yaml.safe_load(stack_runs["wsp"].named("loki-configmap-loki-log-alerts").inputs["data"]["log-alerts.yaml"])
    (rule,) = rules["groups"][0]["rules"]
    assert "|~ `ERROR`" in rule["expr"] and rule["labels"]["pattern"] == "ERROR"
    ruler = values(stack_runs["wsp"], charts.LOKI)["loki"]["rulerConfig"]
    assert ruler["alertmanager_url"] == "http://kube-prometheus-stack-alertmanager.monitoring:9093"


# --------------------------------------------------------------------------- switches and keys


def test_with_the_layer_off_nothing_of_it_exists(tmp_path):
    run = run_stack("dev", write_stack(tmp_path, "dev", lambda c: c.update({K + "layers": {"monitoring": False}})))
    assert not [r for r in run.resources if r.type.endswith("Monitoring")]
    assert not [a for a, _ in run.artifacts if a.chart in {c.name for c in charts.MONITORING}]
    assert "monitoring" not in run.outputs and "prometheus-node-exporter" not in run.artifact("router/router/apply-base.sh")


BAD = [
    ("volume-too-small", set_key("monitoring.prometheus.volumeGb", 8), "monitoring.prometheus.volumeGb", "from 10"),
    ("replicas-without-database", set_key("monitoring.grafana.replicas", 2), "monitoring.grafana.replicas", "1 unless monitoring.grafana.database"),
    ("database-without-password", set_key("monitoring.grafana.database", {"type": "mysql", "host": "db:3306", "name": "grafana", "user": "grafana"}),
     "grafanaDatabasePassword", "pulumi config set --secret grafanaDatabasePassword"),
    ("team-name", set_key("monitoring.grafana.github.teamIds", ["infra"]), "monitoring.grafana.github.teamIds[0]", "an integer"),
    ("team-zero", set_key("monitoring.grafana.github.teamIds", [0]), "monitoring.grafana.github.teamIds[0]", "numeric GitHub team id"),
    ("hostname-not-on-gateway", set_key("monitoring.grafana.hostname", "grafana.example.org"), "monitoring.grafana.hostname",
     "one of addons.gateway.hostnames"),
    ("no-hostname", set_key("monitoring.grafana.hostname", None), "monitoring.grafana.hostname", "the DNS name Grafana answers on"),
    ("ipmi-off", set_key("monitoring.zabbix.ipmiPollers", 0), "monitoring.zabbix.ipmiPollers", "at least 1"),
    ("pattern-backtick", set_key("monitoring.logs.alertPatterns", ["ERR`OR"]), "monitoring.logs.alertPatterns[0]", "without backticks"),
    ("pattern-regex", set_key("monitoring.logs.alertPatterns", ["(ERROR"]), "monitoring.logs.alertPatterns[0]", "regular expression"),
    ("slack-channel", set_key("monitoring.slackChannel", "#alerts"), "monitoring.slackChannel", "without #"),
    ("plugin", set_key("monitoring.grafana.plugins", ["zabbix app"]), "monitoring.grafana.plugins[0]", "plugin id"),
    ("receive-from-unknown", set_key("monitoring.receiveFrom", ["prd", "stg"]), "monitoring.receiveFrom[1]", "a name of wireguard.clusterPeers"),
    ("send-and-receive", set_key("monitoring.sendTo", "prd"), "monitoring.sendTo", "not also in monitoring.receiveFrom"),
    ("nowhere-to-send", both(set_key("monitoring.grafana.enabled", False), set_key("monitoring.receiveFrom", [])), "monitoring.sendTo",
     "or monitoring.grafana.enabled: true"),
    ("receive-without-grafana", set_key("monitoring.grafana.enabled", False), "monitoring.receiveFrom", "unless monitoring.grafana.enabled"),
    ("no-private-pool", lambda c: c[K + "metallb"].pop("privatePool"), "metallb.privatePool", "a private pool when layers.monitoring is on"),
    ("no-section", lambda c: c.pop(K + "monitoring"), "monitoring", "a monitoring section"),
    ("without-addons", set_key("layers", {"addons": False, "monitoring": True}), "layers.monitoring", "false unless the add-ons are on"),
    ("probe-url", set_key("monitoring.probes", ["ftp://example.org"]), "monitoring.probes[0]", "http:// or https:// URL"),
    ("key-typo", set_key("monitoring.flow", True), "monitoring.flow", "did you mean 'flows'"),
    ("webhook-in-plain-text", set_key("slackWebhookUrl", "https://hooks.slack.com/services/T0/B0/x"), "slackWebhookUrl",
     "a secret: set it with `pulumi config set --secret`"),
]


@pytest.mark.parametrize("case, edit, key, text", BAD, ids=[b[0] for b in BAD])
def test_a_bad_monitoring_key_is_refused_by_name(tmp_path, case, edit, key, text):
    assert "hooks.slack.com" not in refusal(tmp_path, "wsp", edit, key, text)


def test_sending_to_a_stack_that_is_not_a_peer_is_refused(tmp_path):
    path = write_stack(tmp_path, "prd", set_key("monitoring.sendTo", "dev"))
    with pytest.raises(ConfigError, match=r"monitoring\.sendTo: expected a name of wireguard\.clusterPeers \(wsp\)"):
        load_stack("prd", path)


def test_every_monitoring_key_is_documented():
    from components.config import MonitoringConfig, camel

    docs = (PROJECT_ROOT / "docs" / "configuration.md").read_text()

    def keys(cls, prefix):
        import dataclasses
        import typing

        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            key = f"{prefix}.{camel(f.name)}"
            tp = hints[f.name]
            inner = next((a for a in typing.get_args(tp) if a is not type(None)), tp)
            yield key
            if dataclasses.is_dataclass(inner):
                yield from keys(inner, key)

    for key in ["layers.monitoring", "slackWebhookUrl", "grafanaGithubClientSecret", "grafanaDatabasePassword", "zabbixApiToken",
                *keys(MonitoringConfig, "monitoring")]:
        assert f"`{key}`" in docs, key
    assert (PROJECT_ROOT / "docs" / "layers" / "monitoring.md").is_file()
    assert "docs/layers/monitoring.md" in (PROJECT_ROOT / "README.md").read_text()
