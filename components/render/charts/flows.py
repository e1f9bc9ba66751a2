"""The flow collector (`monitoring.flows`): NetFlow (2055), sFlow (6343) and IPFIX (4739) over UDP from the venue's routers
and switches, on an address of the private pool (reached only over WireGuard), as the seeds ran ElastiFlow.

goflow2 decodes the three and writes one JSON line per flow to its log; the log agent ships it to Loki like any other
line, and the `flows` dashboard sums bytes by source and destination address (the top talkers) with LogQL. No
Elasticsearch: Loki already holds the logs. The Service keeps the exporters' source addresses
(`externalTrafficPolicy: Local`), which the records name as the sampler. The image is pinned by tag; nothing here
pulls it.
"""

from __future__ import annotations

from ...plan import Plan
from . import Step
from .kube_prometheus_stack import NAMESPACE, monitoring

NAME = "flow-collector"
IMAGE = "docker.io/netsampler/goflow2:v2.2.3"
PORTS = (("netflow", 2055, "netflow"), ("sflow", 6343, "sflow"), ("ipfix", 4739, "netflow"))  # name, UDP port, goflow2 scheme
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "contest-k8s-monitoring"}


def objects(plan: Plan) -> list[dict]:
    address = monitoring(plan).flow_collector
    assert address is not None
    listen = ",".join(f"{scheme}://:{port}" for _, port, scheme in PORTS)
    container = {
        "name": NAME, "image": IMAGE,
        "args": [f"-listen={listen}", "-format=json", "-transport=file", "-addr=:8080"],
        "ports": [{"name": name, "containerPort": port, "protocol": "UDP"} for name, port, _ in PORTS]
                 + [{"name": "metrics", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/__health", "port": "metrics"}, "periodSeconds": 10},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
    }
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": LABELS},
         "spec": {"replicas": 1, "selector": {"matchLabels": LABELS},
                  "template": {"metadata": {"labels": LABELS}, "spec": {
                      "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
                      "containers": [container]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": LABELS, "annotations": {
            "metallb.io/address-pool": "private", "metallb.io/loadBalancerIPs": str(address)}},
         "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "selector": LABELS,
                  "ports": [{"name": name, "port": port, "targetPort": name, "protocol": "UDP"} for name, port, _ in PORTS]}},
    ]


def step(plan: Plan) -> Step:
    return Step("flow-collector", NAMESPACE, objects=tuple(objects(plan)),
                describe="The flow collector: NetFlow 2055, sFlow 6343 and IPFIX 4739 over UDP on the private pool.")
