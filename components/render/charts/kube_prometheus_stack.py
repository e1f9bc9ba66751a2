"""kube-prometheus-stack: Prometheus, Alertmanager, the operator, node exporter and kube-state-metrics, in every cluster.

- Prometheus keeps its data on a Ceph (RBD) volume of `monitoring.prometheus.volumeGb`, and retention by size is derived
  from it (plan.prometheus_retention_gib: the volume less its headroom), so it deletes old blocks before the volume fills
  (seed 000: 20 GB in 10 days, a full disk, a dead Prometheus and no alert). `PrometheusVolumeFillingUp` and
  `PrometheusVolumeFullIn24h` fire before it fills anyway, e.g. when the WAL outgrows the headroom.
- Every series and alert leaves the cluster with `cluster: <stack>`. A cluster with `monitoring.sendTo` remote-writes
  everything to that peer's Prometheus, through the peer's private Gateway over the WireGuard tunnel. Remote write
  rather than federation: it pushes as samples are written and buffers in the WAL while the tunnel is down (federation
  loses whatever it did not scrape, and one scrape of every series times out as the clusters grow), and the receiving
  side needs no list of what to pull.
- The receiving cluster alerts when a sender has been silent for 5 minutes (`ClusterStoppedReporting`): a dead
  Prometheus cannot say so itself. A cluster that `watch`es a peer federates that peer's `Watchdog` alert (always
  firing while its Prometheus evaluates rules) and its Alertmanager's `up`, and alerts when either goes (`HeartbeatMissing`,
  `PeerAlertmanagerDown`): so wsp, which watches the others, is watched too.
- Scraped besides Kubernetes itself: the nodes (node exporter), Ceph (the mgr's exporter), the router (its exporter on
  the private address), Envoy Gateway (controller and proxies), MetalLB's BGP speakers (frr-k8s), and the public
  endpoints through the blackbox exporter (render/charts/blackbox_exporter.py).
- Alertmanager sends to Slack; the webhook URL is a Kubernetes Secret it reads from a file (`api_url_file`).

kubeadm binds the controller manager, scheduler, etcd metrics and kube-proxy to 127.0.0.1, so those four are not
scraped (their targets would only ever be down).
"""

from __future__ import annotations

from typing import Mapping

from ...charts import KUBE_PROMETHEUS_STACK
from ...plan import MonitoringPlan, Plan
from ..secrets import secret
from . import PRIVILEGED, Step, config_checksum, private_route

NAMESPACE = KUBE_PROMETHEUS_STACK.namespace
RELEASE = KUBE_PROMETHEUS_STACK.release
PROMETHEUS_SERVICE, PROMETHEUS_PORT = f"{RELEASE}-prometheus", 9090
ALERTMANAGER_SERVICE, ALERTMANAGER_PORT = f"{RELEASE}-alertmanager", 9093
PROMETHEUS_PATH = "/prometheus"  # on the private Gateway: how other clusters reach this Prometheus
SLACK_SECRET, SLACK_KEY = "alertmanager-slack", "webhook-url"
SLACK_WEBHOOK = "slack-webhook-url"  # the placeholder: the layer fills it from the stack's secret `slackWebhookUrl`
STORAGE_CLASS = "ceph-block"
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def monitoring(plan: Plan) -> MonitoringPlan:
    assert plan.monitoring is not None
    return plan.monitoring


def prometheus_url(plan: Plan) -> str:
    """Where other clusters reach this cluster's Prometheus: its private Gateway, over the tunnels."""
    return f"http://{monitoring(plan).private_gateway}{PROMETHEUS_PATH}"


def in_cluster_prometheus() -> str:
    return f"http://{PROMETHEUS_SERVICE}.{NAMESPACE}:{PROMETHEUS_PORT}"


def in_cluster_alertmanager() -> str:
    return f"http://{ALERTMANAGER_SERVICE}.{NAMESPACE}:{ALERTMANAGER_PORT}"


def slack_secret() -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SLACK_SECRET, "namespace": NAMESPACE}, "type": "Opaque",
            "stringData": {SLACK_KEY: secret(SLACK_WEBHOOK)}}


# What a sender keeps to itself: its recording rules' series (`a:b:c`) and its alerts. The receiver's own rules compute
# the same series from the raw samples under the same labels, and two writers of one series make the receiver refuse
# whole batches as out of order.
NOT_SENT = {"sourceLabels": ["__name__"], "regex": ".+:.+|ALERTS|ALERTS_FOR_STATE", "action": "drop"}


def alertmanager_config(m: MonitoringPlan) -> dict:
    """Every alert to Slack, grouped by cluster and alert; the Watchdog (the heartbeat) and `info` alerts to nobody
    here. A receiving cluster's rules also fire over its senders' series: those alerts are the senders' own to send,
    except its dead man's switch."""
    text = ('{{ range .Alerts }}*{{ .Labels.severity }}* {{ .Annotations.summary }}\n{{ .Annotations.description }}\n'
            '{{ end }}')
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "slack",
            "group_by": ["cluster", "alertname", "namespace"],
            "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h",
            "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']},
                       {"receiver": "null", "matchers": ['alertname = "InfoInhibitor"']},
                       {"receiver": "null", "matchers": ['severity = "info"']},
                       *([{"receiver": "null", "matchers": [f'cluster =~ "{"|".join(m.receive_from)}"',
                                                            'alertname != "ClusterStoppedReporting"']}]
                         if m.receive_from else [])],
        },
        "inhibit_rules": [{"source_matchers": ["severity = critical"], "target_matchers": ["severity =~ warning|info"],
                           "equal": ["cluster", "namespace", "alertname"]}],
        "receivers": [
            {"name": "null"},
            {"name": "slack", "slack_configs": [{
                "api_url_file": f"/etc/alertmanager/secrets/{SLACK_SECRET}/{SLACK_KEY}",
                "channel": f"#{m.slack_channel}",
                "send_resolved": True,
                "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.cluster }}: {{ .CommonLabels.alertname }}',
                "text": text,
            }]},
        ],
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def scrape_configs(plan: Plan, peers: Mapping[str, dict]) -> list[dict]:
    """The targets no ServiceMonitor describes: the router, MetalLB's BGP speakers (HTTPS behind kube-rbac-proxy, which
    takes Prometheus's own token), and the heartbeats of watched peers."""
    m = monitoring(plan)
    configs = [
        {"job_name": "router", "static_configs": [{"targets": [m.router_metrics], "labels": {"instance": plan.router.name}}]},
        {"job_name": "frr-k8s", "scheme": "https", "tls_config": {"insecure_skip_verify": True},
         "authorization": {"credentials_file": SERVICE_ACCOUNT_TOKEN},
         "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": ["metallb-system"]}}],
         "relabel_configs": [
             {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "frrmetricshttps|metricshttps", "action": "keep"},
             {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
             {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
         ]},
    ]
    for name in m.watch:
        endpoints = peers.get(name)
        if endpoints is None:
            continue
        host = endpoints["prometheus"].split("://", 1)[1].split("/", 1)[0]
        configs.append({
            "job_name": f"heartbeat-{name}", "honor_labels": True, "metrics_path": f"{PROMETHEUS_PATH}/federate",
            "params": {"match[]": ['ALERTS{alertname="Watchdog"}', f'up{{job="{ALERTMANAGER_SERVICE}"}}',
                                   f'ALERTS{{alertname=~"{CANNOT_NOTIFY}"}}']},
            "static_configs": [{"targets": [host], "labels": {"peer": name}}],
        })
    return configs


def values(plan: Plan, peers: Mapping[str, dict]) -> dict:
    m = monitoring(plan)
    central = peers.get(m.send_to) if m.send_to is not None else None
    return {
        "crds": {"enabled": True},
        "grafana": {"enabled": False},  # Grafana is its own chart, in the cluster that shows every cluster (grafana.py)
        "windowsMonitoring": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "defaultRules": {"rules": {"kubeControllerManager": False, "kubeSchedulerAlerting": False, "kubeSchedulerRecording": False,
                                   "etcd": False, "kubeProxy": False}},
        "alertmanager": {
            "config": alertmanager_config(m),
            "alertmanagerSpec": {
                "secrets": [SLACK_SECRET],
                # api_url_file is read at each notification: a new webhook needs no restart, a new Secret does
                "podMetadata": {"annotations": {"checksum/secrets": config_checksum([slack_secret()])}},
                "storage": {"volumeClaimTemplate": {"spec": {"storageClassName": STORAGE_CLASS, "accessModes": ["ReadWriteOnce"],
                                                             "resources": {"requests": {"storage": "2Gi"}}}}},
            },
        },
        "prometheus": {"prometheusSpec": {
            "externalLabels": {"cluster": m.cluster},
            "enableRemoteWriteReceiver": bool(m.receive_from),
            "remoteWrite": [{"url": f"{central['prometheus']}/api/v1/write", "writeRelabelConfigs": [NOT_SENT]}]
            if central is not None else [],
            "retention": f"{m.prometheus_retention_days}d",
            "retentionSize": f"{m.prometheus_retention_gib}GiB",
            "storageSpec": {"volumeClaimTemplate": {"spec": {
                "storageClassName": STORAGE_CLASS, "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": f"{m.prometheus_volume_gib}Gi"}}}}},
            # every monitor, probe and rule of every namespace, not only the chart's own
            "ruleSelectorNilUsesHelmValues": False,
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "probeSelectorNilUsesHelmValues": False,
            "scrapeConfigSelectorNilUsesHelmValues": False,
            "additionalScrapeConfigs": scrape_configs(plan, peers),
        }},
    }


def _rule_group(name: str, rules: list[dict]) -> dict:
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": {"name": name, "namespace": NAMESPACE}, "spec": {"groups": [{"name": name, "rules": rules}]}}


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, description: str) -> dict:
    return {"alert": name, "expr": expr, "for": duration, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description}}


def storage_rules(plan: Plan) -> dict:
    """Alerts before Prometheus's volume fills, whatever retention does (retention by size counts the blocks, the WAL
    and the head's chunks; compaction needs room beside them, which the headroom keeps)."""
    m = monitoring(plan)
    volume = f'persistentvolumeclaim=~"prometheus-{RELEASE}-prometheus-db-.*", namespace="{NAMESPACE}"'
    free = f"kubelet_volume_stats_available_bytes{{{volume}}} / kubelet_volume_stats_capacity_bytes{{{volume}}}"
    return _rule_group("prometheus-storage", [
        _alert("PrometheusVolumeFillingUp", f"{free} < 0.10", "5m", "critical",
               "Prometheus's volume is {{ $value | humanizePercentage }} free",
               f"Retention by size keeps {m.prometheus_retention_gib} GiB of {m.prometheus_volume_gib} GiB; the rest is room "
               "for compaction. Grow the volume (docs/layers/monitoring.md: Prometheus needs more room) before Prometheus "
               "stops on a full disk."),
        _alert("PrometheusVolumeFullIn24h",
               f"predict_linear(kubelet_volume_stats_available_bytes{{{volume}}}[6h], 24 * 3600) < 0 and {free} < 0.25", "1h",
               "warning", "Prometheus's volume fills within a day at the rate of the last 6 hours",
               "Grow the volume (docs/layers/monitoring.md), or find the series that grew (prometheus_tsdb_head_series)."),
        _alert("PrometheusDeletingBySize", "increase(prometheus_tsdb_size_retentions_total[1h]) > 0", "0m", "info",
               "Prometheus deletes blocks to stay within its retention size",
               f"It keeps less than monitoring.prometheus.retentionDays ({m.prometheus_retention_days}d) of metrics: "
               "a larger volume keeps more."),
    ])


def reporting_rules(plan: Plan) -> dict:
    """The dead man's switch of the receiving cluster: one alert per sender gone silent."""
    return _rule_group("clusters-reporting", [
        _alert("ClusterStoppedReporting", f'absent_over_time(up{{cluster="{name}"}}[5m])', "0m", "critical",
               f"No metrics from {name} for 5 minutes",
               f"{name}'s Prometheus sends nothing over the tunnel: the cluster, its Prometheus, its router or the WireGuard "
               "tunnel is down. A dead Prometheus cannot alert about itself.")
        for name in monitoring(plan).receive_from
    ])


# The chart's own alerts of an Alertmanager whose notifications fail: raised where that Alertmanager is, they reach
# nobody there, so the watching cluster raises them again.
CANNOT_NOTIFY = "AlertmanagerFailedToSendAlerts|AlertmanagerClusterFailedToSendAlerts"


def heartbeat_rules(plan: Plan) -> dict:
    """A watched peer's Watchdog (always firing while its rules are evaluated) and its Alertmanager (up, and
    delivering), from this side."""
    rules = []
    for name in monitoring(plan).watch:
        rules += [
            _alert("HeartbeatMissing", f'absent_over_time(ALERTS{{alertname="Watchdog", alertstate="firing", cluster="{name}"}}[10m])',
                   "0m", "critical", f"{name}'s heartbeat stopped",
                   f"{name}'s Prometheus no longer evaluates its rules, or cannot be reached: nothing there alerts now."),
            _alert("PeerAlertmanagerDown", f'max(up{{job="{ALERTMANAGER_SERVICE}", cluster="{name}"}}) == 0', "10m", "critical",
                   f"{name}'s Alertmanager is down", f"Alerts raised in {name} reach nobody."),
            _alert("PeerAlertmanagerCannotNotify",
                   f'count by (integration) (ALERTS{{alertname=~"{CANNOT_NOTIFY}", alertstate="firing", cluster="{name}"}}) > 0',
                   "0m", "critical", f"{name}'s Alertmanager fails to deliver ({{{{ $labels.integration }}}})",
                   f"Alerts raised in {name} do not reach Slack: its webhook (slackWebhookUrl) or its way out."),
        ]
    return _rule_group("heartbeats", rules)


def monitor_objects() -> list[dict]:
    """ServiceMonitors and PodMonitors of what the add-ons run: Ceph's mgr exporter, Envoy Gateway and its proxies."""
    return [
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "rook-ceph-mgr", "namespace": NAMESPACE},
         "spec": {"namespaceSelector": {"matchNames": ["rook-ceph"]}, "selector": {"matchLabels": {"app": "rook-ceph-mgr"}},
                  "endpoints": [{"port": "http-metrics", "path": "/metrics", "interval": "30s"}]}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "envoy-gateway", "namespace": NAMESPACE},
         "spec": {"namespaceSelector": {"matchNames": ["envoy-gateway-system"]},
                  "selector": {"matchLabels": {"control-plane": "envoy-gateway"}}, "endpoints": [{"port": "metrics"}]}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": "envoy-proxies", "namespace": NAMESPACE},
         "spec": {"namespaceSelector": {"matchNames": ["envoy-gateway-system"]},
                  "selector": {"matchLabels": {"app.kubernetes.io/managed-by": "envoy-gateway", "app.kubernetes.io/component": "proxy"}},
                  "podMetricsEndpoints": [{"port": "metrics", "path": "/stats/prometheus"}]}},
    ]


def objects(plan: Plan) -> list[dict]:
    m = monitoring(plan)
    made = [storage_rules(plan)]
    if m.receive_from:
        made.append(reporting_rules(plan))
    if m.watch:
        made.append(heartbeat_rules(plan))
    return made + monitor_objects() + [private_route("prometheus", NAMESPACE, PROMETHEUS_PATH, PROMETHEUS_SERVICE, PROMETHEUS_PORT, rewrite=True)]


def step(plan: Plan, peers: Mapping[str, dict]) -> Step:
    return Step("kube-prometheus-stack", NAMESPACE, KUBE_PROMETHEUS_STACK, plan.charts.version(KUBE_PROMETHEUS_STACK),
                values(plan, peers), tuple(objects(plan)), needs=("monitoring-secrets",), pod_security=PRIVILEGED,
                describe="Prometheus's storage, reporting and heartbeat alerts, the monitors of Ceph and Envoy Gateway, and the "
                         "route that lets other clusters reach this Prometheus.")
