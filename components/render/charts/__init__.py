"""Every chart's Helm values and the Kubernetes objects that go with it, as pure data from the plan.

One module per chart (`cilium`, `metallb`, `gateway_helm`, `cert_manager`, `rook_ceph`, `descheduler`,
`kube_prometheus_stack`, `blackbox_exporter`, `loki`, `fluent_bit`, `grafana`, `argo_cd`) plus `smoke_test`, `flows`
and `zabbix`; each makes `Step`s. A step is one chart (pin, version, values) and the objects
applied once that chart is ready, or objects alone. `addon_steps(plan)` lists the add-ons layer's
steps in install order with what each needs first, `monitoring_steps(plan, peers, dashboards)` the monitoring
layer's; `cilium.step(plan)` is the kubeadm layer's CNI; `argo_cd.gitops_steps` and `argo_cd.access_steps` are the
GitOps layer's.
The layers apply steps with components/helm.py and know nothing about a chart, and so can any test:
for every step, `helm template <step.release> <source>/<step.chart.folder(step.version)>` with
`step.values`, then every object of `namespace_objects(steps)` and `step.objects`.

Objects are plain dicts as the API server takes them. A secret in an object is a `<secret:NAME>`
placeholder (render.secrets) that the layer fills from a Pulumi secret: Helm values never hold one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Mapping, Optional

import yaml

from ...charts import Chart
from ...plan import Plan

# Namespaces whose pods need host access (BGP speakers, Ceph OSDs): labelled for Pod Security admission.
PRIVILEGED = "privileged"
SYSTEM_NAMESPACES = frozenset({"kube-system", "default"})
WIDTH = 1000  # no folded lines in the rendered YAML


@dataclass(frozen=True)
class Step:
    name: str  # Pulumi resource names; kubernetes/<name>.yaml holds its objects
    namespace: str
    chart: Optional[Chart] = None
    version: Optional[str] = None  # the version this stack installs (plan.charts)
    values: dict = field(default_factory=dict)
    objects: tuple[dict, ...] = ()  # applied once the chart is ready: its CRDs served, its webhooks answering
    needs: tuple[str, ...] = ()  # steps whose charts must be ready before this one starts (an objects-only step: its objects)
    objects_need: tuple[str, ...] = ()  # steps whose objects (and charts) must be applied before this step's objects
    pod_security: Optional[str] = None  # Pod Security level of its namespace, when it needs one
    stateful: bool = False  # holds data: `protect`ed where the stack protects its disks (prd)
    # Its chart (or objects) is ready only once its volume is bound, so it starts after the Ceph cluster. A volume that
    # an operator makes later (Prometheus's) does not count: the claim waits for the storage class by itself.
    storage: bool = False
    describe: str = ""  # the first line of kubernetes/<name>.yaml

    @property
    def release(self) -> str:
        """The Helm release name (the chart's name where Pulumi names the release, with a suffix of its own)."""
        return (self.chart.release or self.chart.name) if self.chart else self.name


def config_checksum(objects: list[dict]) -> str:
    """The checksum annotation of a workload configured by `objects` (ConfigMaps, Secrets as rendered: a Secret's values
    are placeholders, so no hash of a secret is ever in the state): it changes when they change, and only then, and a
    changed pod template rolls the pods."""
    return hashlib.sha256(json.dumps(objects, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def gateway_route(name: str, namespace: str, gateway: str, listener: str, backend: str, port: int, *, path: str = "/",
                  hostname: Optional[str] = None, rewrite: bool = False) -> dict:
    """An HTTPRoute from a listener of one of the add-ons' Gateways (render/charts/gateway_helm.py) to a Service;
    `rewrite` strips `path` (for a backend that serves at /)."""
    from .gateway_helm import NAMESPACE as GATEWAY_NAMESPACE

    rule: dict = {"matches": [{"path": {"type": "PathPrefix", "value": path}}], "backendRefs": [{"name": backend, "port": port}]}
    if rewrite:
        rule["filters"] = [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}]
    spec: dict = {"parentRefs": [{"name": gateway, "namespace": GATEWAY_NAMESPACE, "sectionName": listener}], "rules": [rule]}
    if hostname is not None:
        spec["hostnames"] = [hostname]
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def private_route(name: str, namespace: str, path: str, backend: str, port: int, *, rewrite: bool = False) -> dict:
    """A path of the private Gateway (reached only over WireGuard: other clusters, the venue, operators)."""
    from .gateway_helm import HTTP_LISTENER, PRIVATE

    return gateway_route(name, namespace, PRIVATE, HTTP_LISTENER, backend, port, path=path, rewrite=rewrite)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (a Fluent Bit configuration, a dashboard, rules) as literal blocks, readable in a review."""


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text,
                                                                          style="|" if "\n" in text else None))


def values_yaml(plan: Plan, step: Step) -> str:
    chart = step.chart
    assert chart is not None
    release = chart.release or f"{chart.name}-<suffix>"
    return (f"# {chart.name} {step.version} values for {plan.stack}: release {release} in {step.namespace}, "
            f"helm.{'v4.Chart' if chart.kind == 'chart' else 'v3.Release'}. Generated by contest-k8s.\n"
            + yaml.dump(step.values, Dumper=_Dumper, sort_keys=True, width=WIDTH))


def objects_yaml(step: Step) -> str:
    return f"# {step.describe} Generated by contest-k8s.\n" + yaml.dump_all(list(step.objects), Dumper=_Dumper, sort_keys=False,
                                                                         explicit_start=True, width=WIDTH)


def namespace_objects(steps: tuple[Step, ...]) -> tuple[dict, ...]:
    """A Namespace for every step's namespace (once, in step order), labelled when its pods need host access."""
    levels: dict[str, Optional[str]] = {}
    for step in steps:
        if step.namespace not in SYSTEM_NAMESPACES:
            levels[step.namespace] = levels.get(step.namespace) or step.pod_security
    objects = []
    for name, level in levels.items():
        metadata: dict = {"name": name}
        if level is not None:
            metadata["labels"] = {f"pod-security.kubernetes.io/{mode}": level for mode in ("enforce", "audit", "warn")}
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata})
    return tuple(objects)


def namespaces_yaml(steps: tuple[Step, ...]) -> str:
    return ("# Namespaces, made before the charts that go into them. Generated by contest-k8s.\n"
            + yaml.safe_dump_all(list(namespace_objects(steps)), sort_keys=False, explicit_start=True))


def addon_steps(plan: Plan) -> tuple[Step, ...]:
    """The add-ons layer in install order (plan.addons must be set): MetalLB and its BGP objects; Envoy Gateway and
    the Gateways (after MetalLB's pools); cert-manager (after the Gateway API CRDs) and the ACME issuers and the
    Gateway's certificate (after the Gateways); the Rook operator, then the Ceph cluster with its pools and storage
    classes; the descheduler; the smoke test if asked for. Charts that need nothing of each other install at once."""
    from . import cert_manager, descheduler, gateway_helm, metallb, rook_ceph, smoke_test

    steps = (metallb.step(plan), gateway_helm.step(plan), cert_manager.step(plan), rook_ceph.operator_step(plan),
             rook_ceph.cluster_step(plan), descheduler.step(plan))
    if plan.addons is not None and plan.addons.smoke_test:
        steps += (smoke_test.step(plan),)
    return steps


def monitoring_steps(plan: Plan, peers: Mapping[str, dict], dashboards: tuple = ()) -> tuple[Step, ...]:
    """The monitoring layer in install order (plan.monitoring must be set): the Secrets the charts name; Prometheus and
    Alertmanager with their rules and monitors; the blackbox exporter and its probes; where Grafana runs: Loki, then
    Grafana with one ConfigMap per dashboard; the log agent; the flow collector and Zabbix when on. `peers` are the
    `monitoring` outputs of the cluster peers read so far (a peer not yet deployed is missing), `dashboards` the files
    of dashboards/ (render.dashboards)."""
    from . import blackbox_exporter, flows, fluent_bit, grafana, kube_prometheus_stack, loki, zabbix

    m = plan.monitoring
    assert m is not None
    secrets = [kube_prometheus_stack.slack_secret()]
    if m.grafana is not None:
        secrets += grafana.secrets(plan)
    if m.zabbix is not None:
        secrets += zabbix.secrets()
    steps = [Step("monitoring-secrets", kube_prometheus_stack.NAMESPACE, objects=tuple(secrets),
                  describe="The Secrets the monitoring charts and workloads name; every value is a placeholder the layer fills."),
             kube_prometheus_stack.step(plan, peers), blackbox_exporter.step(plan)]
    if m.grafana is not None:
        steps += [loki.step(plan), grafana.step(plan, peers), grafana.dashboards_step(dashboards)]
    agent = fluent_bit.step(plan, peers)
    if agent is not None:
        steps.append(agent)
    if m.flow_collector is not None:
        steps.append(flows.step(plan))
    if m.zabbix is not None:
        steps.append(zabbix.step(plan))
    return tuple(steps)


def monitoring_endpoints(plan: Plan) -> dict:
    """The stack output `monitoring`, which other clusters read: where they reach this cluster's Prometheus (to read it,
    remote-write to it, federate its heartbeat) and, where Loki runs, where their agents push logs."""
    from . import kube_prometheus_stack, loki

    m = plan.monitoring
    assert m is not None
    endpoints = {"cluster": m.cluster, "prometheus": kube_prometheus_stack.prometheus_url(plan)}
    if m.grafana is not None:
        endpoints["loki"] = loki.push_url(plan)
    return endpoints
