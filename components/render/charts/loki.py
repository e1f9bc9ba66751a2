"""Loki: the log store of the cluster that runs Grafana, with Grafana as its UI, and its ruler for log alerts.

Loki rather than the seeds' Elasticsearch and Kibana: it indexes labels only (cluster, namespace, pod, container), so
one process on one Ceph volume holds a contest's logs with no cluster of JVMs to run, and Grafana already shows
the metrics. Monolithic mode on the filesystem of a Ceph (RBD) volume; logs older than `monitoring.logs.retentionDays`
are deleted by the compactor.

Every cluster's agent (render/charts/fluent_bit.py) pushes to the gateway: this cluster's directly, the others over the
tunnels through the private Gateway (`/loki/api/v1/push`). The ruler evaluates one rule per `monitoring.logs.alertPatterns`
and sends to this cluster's Alertmanager, which notifies Slack (the seeds' ElastAlert use: a line with ERROR). The rules
are a ConfigMap the chart's sidecar loads into the ruler's directory, so a change needs no restart.
"""

from __future__ import annotations

import yaml

from ...charts import LOKI
from ...plan import Plan
from . import Step, private_route
from .kube_prometheus_stack import NAMESPACE, in_cluster_alertmanager, monitoring

GATEWAY_SERVICE, GATEWAY_PORT = f"{LOKI.release}-gateway", 80
PUSH_PATH = "/loki/api/v1/push"
RULES_DIRECTORY = "/rules"
TENANT = "fake"  # Loki's tenant when auth_enabled is false: local rules sit in <directory>/<tenant>/
RULES_LABEL = "loki_rule"
STORAGE_CLASS = "ceph-block"


def in_cluster_push() -> str:
    return f"http://{GATEWAY_SERVICE}.{NAMESPACE}{PUSH_PATH}"


def in_cluster_url() -> str:
    return f"http://{GATEWAY_SERVICE}.{NAMESPACE}"


def push_url(plan: Plan) -> str:
    """Where other clusters' agents push: this cluster's private Gateway, over the tunnels."""
    return f"http://{monitoring(plan).private_gateway}{PUSH_PATH}"


def values(plan: Plan) -> dict:
    m = monitoring(plan)
    return {
        "deploymentMode": "Monolithic",
        "loki": {
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {"configs": [{"from": "2026-01-01", "store": "tsdb", "object_store": "filesystem", "schema": "v13",
                                          "index": {"prefix": "index_", "period": "24h"}}]},
            "limits_config": {"retention_period": f"{24 * m.loki_retention_days}h", "reject_old_samples": True,
                              "reject_old_samples_max_age": "168h", "volume_enabled": True},
            "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
            "rulerConfig": {"storage": {"type": "local", "local": {"directory": RULES_DIRECTORY}},
                            "rule_path": "/var/loki/ruler-scratch", "alertmanager_url": in_cluster_alertmanager(),
                            "enable_api": True, "ring": {"kvstore": {"store": "inmemory"}},
                            "wal": {"dir": "/var/loki/ruler-wal"}},
        },
        "singleBinary": {"replicas": 1, "persistence": {"size": f"{m.loki_volume_gib}Gi", "storageClass": STORAGE_CLASS}},
        # the simple scalable targets' default replicas, which monolithic mode must not have
        "backend": {"replicas": 0}, "read": {"replicas": 0}, "write": {"replicas": 0},
        "sidecar": {"rules": {"folder": f"{RULES_DIRECTORY}/{TENANT}", "label": RULES_LABEL}},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
    }


def alert_rules(plan: Plan) -> dict:
    """One Loki alerting rule per pattern: any matching line in the last 5 minutes, per cluster, namespace and pod."""
    m = monitoring(plan)
    rules = [{
        "alert": "LogPatternSeen",
        "expr": f'sum by (cluster, namespace, pod) (count_over_time({{namespace=~".+"}} |~ `{pattern}` [5m])) > 0',
        "labels": {"severity": "warning", "pattern": pattern},
        "annotations": {"summary": f"`{pattern}` in the logs of {{{{ $labels.cluster }}}} {{{{ $labels.namespace }}}}/{{{{ $labels.pod }}}}",
                        "description": "{{ $value }} matching lines in 5 minutes; Grafana's Explore (Loki) shows them."},
    } for pattern in m.log_alert_patterns]
    text = yaml.safe_dump({"groups": [{"name": "log-patterns", "rules": rules}]}, sort_keys=False, width=1000)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "loki-log-alerts", "namespace": NAMESPACE, "labels": {RULES_LABEL: "1"}},
            "data": {"log-alerts.yaml": text}}


def step(plan: Plan) -> Step:
    return Step("loki", NAMESPACE, LOKI, plan.charts.version(LOKI), values(plan),
                (alert_rules(plan), private_route("loki", NAMESPACE, "/loki", GATEWAY_SERVICE, GATEWAY_PORT)),
                stateful=True, storage=True,
                describe="Loki's log alert rules and the route that lets other clusters' agents push to it.")
