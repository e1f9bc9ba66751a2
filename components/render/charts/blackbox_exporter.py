"""The blackbox exporter and its probes: the public endpoints by name (the seeds watched theirs the same way).

Every cluster probes `https://` of each of its `addons.gateway.hostnames` and the URLs of `monitoring.probes`: DNS, the
global Gateway, its certificate and the application. The probes run inside the cluster, where kube-proxy answers the
Gateway's address on the node, so the path from the internet (BGP, the router's proxy-ARP) is not on theirs; the router's
BGP and ECMP metrics cover it. `ProbeFailing` fires when one fails for 5 minutes, `CertificateExpiresSoon` two weeks
before a certificate ends (cert-manager renews 30 days ahead, so this means renewal is failing).
"""

from __future__ import annotations

from ...charts import PROMETHEUS_BLACKBOX_EXPORTER
from ...plan import Plan
from . import Step
from .kube_prometheus_stack import NAMESPACE, monitoring

RELEASE = PROMETHEUS_BLACKBOX_EXPORTER.release
PORT = 9115
MODULE = "http_2xx"


def values(plan: Plan) -> dict:
    return {
        "config": {"modules": {MODULE: {
            "prober": "http", "timeout": "10s",
            "http": {"valid_http_versions": ["HTTP/1.1", "HTTP/2.0"], "follow_redirects": True, "preferred_ip_protocol": "ip4",
                     "fail_if_not_ssl": False},
        }}},
    }


def probe_objects(plan: Plan) -> list[dict]:
    m = monitoring(plan)
    probe = {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "Probe", "metadata": {"name": "public-endpoints", "namespace": NAMESPACE},
        "spec": {"jobName": "blackbox", "interval": "30s", "module": MODULE,
                 "prober": {"url": f"{RELEASE}.{NAMESPACE}:{PORT}"},
                 "targets": {"staticConfig": {"static": list(m.probes)}}},
    }
    rules = {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "public-endpoints", "namespace": NAMESPACE},
        "spec": {"groups": [{"name": "public-endpoints", "rules": [
            {"alert": "ProbeFailing", "expr": 'probe_success{job="blackbox"} == 0', "for": "5m", "labels": {"severity": "critical"},
             "annotations": {"summary": "{{ $labels.instance }} does not answer",
                             "description": "The blackbox exporter cannot reach it as a client would: DNS, the Gateway's address, "
                                            "the certificate or the application."}},
            {"alert": "CertificateExpiresSoon", "expr": 'probe_ssl_earliest_cert_expiry{job="blackbox"} - time() < 14 * 86400',
             "for": "1h", "labels": {"severity": "warning"},
             "annotations": {"summary": "The certificate of {{ $labels.instance }} ends within 14 days",
                             "description": "cert-manager renews 30 days ahead: look at the Certificate's and Order's events."}},
        ]}]},
    }
    return [probe, rules] if m.probes else []


def step(plan: Plan) -> Step:
    return Step("blackbox-exporter", NAMESPACE, PROMETHEUS_BLACKBOX_EXPORTER, plan.charts.version(PROMETHEUS_BLACKBOX_EXPORTER),
                values(plan), tuple(probe_objects(plan)), objects_need=("kube-prometheus-stack",),
                describe="Probes of the public endpoints and their alerts.")
