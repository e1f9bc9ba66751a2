"""Fluent Bit: the log agent, a DaemonSet on every node of every cluster (control planes too: it tolerates every taint).

It tails every container's log and the kubelet's journal, adds the pod's Kubernetes metadata, and pushes to the Loki of
the cluster that keeps the logs: this cluster's own (where Grafana runs), or `monitoring.sendTo`'s over the tunnel,
through that peer's private Gateway. Labels are few on purpose (cluster, namespace, pod, container, node; the
rest of the metadata stays in the line): Loki indexes labels only. Each input remembers where it is in its files and
the journal (a DB under /var/log, the host's), and buffers in files there: while the tunnel or Loki is down, and
across a restart of the agent, lines wait on the node (up to `BUFFER_LIMIT` per output) and are sent within a minute
of Loki answering again (`RETRY_CAP_SECONDS`). Loki takes a stream's lines only up to about an hour behind its newest
(half its chunk age): of a longer outage, the oldest lines may be refused and dropped. So the
agent never waits for Loki to be installed, in wsp no more than in prd and dev, whose Loki is another cluster's: it
holds the first lines until Loki answers (its retries have no limit), and is ready meanwhile (the health check that
its readiness probe reads counts output errors and exhausted retries; a Loki that does not answer is a retry).
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


# On the host (the chart mounts /var/log read-write), so positions and buffers outlive the pod; the DB files directly
# in /var/log, which exists (Fluent Bit makes the buffer directory, not a DB's).
STATE = "/var/log/fluent-bit"
BUFFER_LIMIT = "2G"  # per output: what a node keeps while the logs cannot be sent
RETRY_CAP_SECONDS = 60  # the longest wait between retries (Fluent Bit's default, 2000 s, sends a backlog half an hour late)

# The chart's [SERVICE], with filesystem buffering.
SERVICE = f"""\
[SERVICE]
    Daemon Off
    Flush {{{{ .Values.flush }}}}
    Log_Level {{{{ .Values.logLevel }}}}
    Parsers_File /fluent-bit/etc/parsers.conf
    Parsers_File /fluent-bit/etc/conf/custom_parsers.conf
    HTTP_Server On
    HTTP_Listen 0.0.0.0
    HTTP_Port {{{{ .Values.metricsPort }}}}
    Health_Check On
    scheduler.cap {RETRY_CAP_SECONDS}
    storage.path {STATE}-buffers/
    storage.sync normal
    storage.backlog.mem_limit 5M
"""
# The chart's inputs, each with its position DB and a filesystem buffer.
INPUTS = f"""\
[INPUT]
    Name tail
    Path /var/log/containers/*.log
    multiline.parser docker, cri
    Tag kube.*
    DB {STATE}-containers.db
    storage.type filesystem
    Mem_Buf_Limit 5MB
    Skip_Long_Lines On

[INPUT]
    Name systemd
    Tag host.*
    Systemd_Filter _SYSTEMD_UNIT=kubelet.service
    DB {STATE}-journal.db
    storage.type filesystem
    Read_From_Tail On
"""


def _output(match: str, url: str, labels: str) -> str:
    parts = urlsplit(url)
    return (f"[OUTPUT]\n    Name loki\n    Match {match}\n    Host {parts.hostname}\n    Port {parts.port or 80}\n"
            f"    Uri {parts.path}\n    Labels {labels}\n    Remove_Keys kubernetes\n    Line_Format json\n    Retry_Limit False\n"
            f"    storage.total_limit_size {BUFFER_LIMIT}\n")


def values(plan: Plan, url: str) -> dict:
    cluster = monitoring(plan).cluster
    pods = (f"cluster={cluster}, job=fluent-bit, namespace=$kubernetes['namespace_name'], pod=$kubernetes['pod_name'], "
            "container=$kubernetes['container_name'], node=$kubernetes['host']")
    return {
        "tolerations": [{"operator": "Exists"}],
        "testFramework": {"enabled": False},
        "config": {"service": SERVICE, "inputs": INPUTS, "outputs": _output("kube.*", url, pods) + "\n" + _output("host.*", url, f"cluster={cluster}, job=kubelet, node=${{HOSTNAME}}")},
        "env": [{"name": "HOSTNAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
    }


def step(plan: Plan, peers: Mapping[str, dict]) -> Optional[Step]:
    """The agent; None while the cluster that keeps the logs is not known yet (its stack not deployed)."""
    url = push_url(plan, peers)
    if url is None:
        return None
    return Step("fluent-bit", NAMESPACE, FLUENT_BIT, plan.charts.version(FLUENT_BIT), values(plan, url))
