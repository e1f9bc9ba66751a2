"""Fluent Bit: the log agent, a DaemonSet on every node of every cluster (control planes too: it tolerates every taint).

It tails every container's log and the kubelet's journal, adds the pod's Kubernetes metadata, and pushes to the Loki of
the cluster that keeps the logs: this cluster's own (where Grafana runs), or `monitoring.sendTo`'s over the tunnel,
through that peer's private Gateway. Labels are few on purpose (cluster, namespace, pod, container, node; the
rest of the metadata stays in the line): Loki indexes labels only. While the tunnel is down the tail input pauses at
its buffer limit and retries forever, so lines wait in the node's files rather than being dropped.
"""

from __future__ import annotations

from typing import Mapping, Optional
from urllib.parse import urlsplit

from ...charts import FLUENT_BIT
from ...plan import Plan
from . import Step
from .kube_prometheus_stack import NAMESPACE, monitoring
from .loki import in_cluster_push


def push_url(plan: Plan, peers: Mapping[str, dict]) -> Optional[str]:
    """Where this cluster's logs go: its own Loki, its `sendTo` peer's (None while that peer's output is unknown)."""
    m = monitoring(plan)
    if m.grafana is not None:
        return in_cluster_push()
    peer = peers.get(m.send_to) if m.send_to is not None else None
    return peer.get("loki") if peer is not None else None


def _output(match: str, url: str, labels: str) -> str:
    parts = urlsplit(url)
    return (f"[OUTPUT]\n    Name loki\n    Match {match}\n    Host {parts.hostname}\n    Port {parts.port or 80}\n"
            f"    Uri {parts.path}\n    Labels {labels}\n    Remove_Keys kubernetes\n    Line_Format json\n    Retry_Limit False\n")


def values(plan: Plan, url: str) -> dict:
    cluster = monitoring(plan).cluster
    pods = (f"cluster={cluster}, job=fluent-bit, namespace=$kubernetes['namespace_name'], pod=$kubernetes['pod_name'], "
            "container=$kubernetes['container_name'], node=$kubernetes['host']")
    return {
        "tolerations": [{"operator": "Exists"}],
        "testFramework": {"enabled": False},
        "config": {"outputs": _output("kube.*", url, pods) + "\n" + _output("host.*", url, f"cluster={cluster}, job=kubelet, node=${{HOSTNAME}}")},
        "env": [{"name": "HOSTNAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
    }


def step(plan: Plan, peers: Mapping[str, dict]) -> Optional[Step]:
    """The agent; None while the cluster that keeps the logs is not known yet (its stack not deployed)."""
    url = push_url(plan, peers)
    if url is None:
        return None
    m = monitoring(plan)
    return Step("fluent-bit", NAMESPACE, FLUENT_BIT, plan.charts.version(FLUENT_BIT), values(plan, url),
                needs=("loki",) if m.grafana is not None else ())
