"""Monitoring layer: metrics, alerts, dashboards, logs, flows and hardware, through the kubeadm layer's Kubernetes provider.

Steps (render/charts: `monitoring_steps`), after the cluster's nodes are Ready and the add-ons' Gateways, and a step that
binds a volume (Loki, Grafana without a database, Zabbix) after the Ceph cluster too; Prometheus and Alertmanager do not
wait for it (the operator makes their claims, which bind once Ceph serves them), so they start beside Ceph:
  the Secrets the charts and workloads name (values filled here from Pulumi secrets)
  -> kube-prometheus-stack (Prometheus, Alertmanager, the operator and its CRDs) -> the rules, monitors, the route
     -> the blackbox exporter's probes
  where Grafana runs: Loki -> its log alert rules and route; Grafana -> its route; one ConfigMap per dashboard
  the log agent (after Loki where it runs here)
  the flow collector and Zabbix, where switched on.

Other clusters are read through the engine's `readStackOutputs` (as the edge router reads its peers): a cluster
sends its metrics and logs to the endpoints of its `monitoring.sendTo` peer's `monitoring` output, and the cluster
that receives adds a data source for each sender. A peer not deployed yet is left out with a warning and picked
up by a later `pulumi up`; the dead man's switch for it is there from the start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import artifacts
from ..config import Secret
from ..helm import Applier
from ..plan import Plan
from ..render.charts import grafana, kube_prometheus_stack, monitoring_endpoints, monitoring_steps, zabbix
from ..render.dashboards import Dashboard
from ..render.secrets import placeholders
from ..stack_outputs import read_plain_output


@dataclass(frozen=True)
class MonitoringArgs:
    plan: pulumi.Output[Plan]
    shape: Plan  # the plan on an assumed block (plan.shape_plan): which resources to make
    provider: k8s.Provider  # KubernetesCluster.provider
    after: tuple[pulumi.Resource, ...]  # the cluster's nodes Ready and the add-ons' Gateways (the Gateway API CRDs)
    storage: tuple[pulumi.Resource, ...]  # the add-ons' Ceph cluster (storage classes): before a step that binds a volume
    cluster_peers: tuple[tuple[str, str], ...]  # wireguard.clusterPeers: (name, organization/project/stack)
    dashboards: tuple[Dashboard, ...]  # the files of dashboards/
    secrets: Mapping[str, Optional[Secret]]  # placeholder name -> the stack's secret (None: not set)
    protect_stateful: bool
    await_readiness: bool = True  # kubernetes.awaitReadiness (components/helm.py)


class Monitoring(pulumi.ComponentResource):
    endpoints: pulumi.Output[dict]  # the stack output `monitoring`: read by the cluster peers that send here or watch this one

    def __init__(self, name: str, args: MonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("contest-k8s:index:Monitoring", name, None, opts)
        m = args.shape.monitoring
        assert m is not None
        wanted = dict.fromkeys(((m.send_to,) if m.send_to else ()) + m.receive_from + m.watch)
        references = dict(args.cluster_peers)
        peers = {peer: dict(endpoints) for peer in wanted if (endpoints := self._peer(peer, references[peer])) is not None}

        applier = Applier(self, args.provider, args.plan, lambda p: monitoring_steps(p, peers, args.dashboards),
                          monitoring_steps(args.shape, peers, args.dashboards), chart_source=args.shape.charts.source,
                          await_readiness=args.await_readiness, secrets=self._secrets(args))
        if m.grafana is not None:
            for dashboard in args.dashboards:
                artifacts.publish(f"dashboards/{dashboard.name}.json", "dashboard", dashboard.text)
        applier.apply_all(args.after, storage=args.storage, protect=args.protect_stateful, namespaces_file="monitoring-namespaces")

        self.endpoints = args.plan.apply(monitoring_endpoints)
        self.register_outputs({"endpoints": self.endpoints})

    def _peer(self, name: str, stack_ref: str) -> Optional[dict]:
        """The peer's `monitoring` output (its endpoints); None, with a warning, while it has none."""
        return read_plain_output(stack_ref, "monitoring", f"monitoring peer {name}", self)

    def _secrets(self, args: MonitoringArgs) -> dict[str, pulumi.Output[str]]:
        """The placeholders' values: passwords made here (secret in the state), the rest from the stack's secrets. A secret
        the stack does not set is an empty value and a warning saying what does not work without it."""
        child = pulumi.ResourceOptions(parent=self)
        needed = self._needed(args.shape)
        made = {name: random.RandomPassword(name, length=32, special=False, opts=child).result
                for name in (grafana.ADMIN_PASSWORD, zabbix.DB_PASSWORD) if name in needed}
        missing = {kube_prometheus_stack.SLACK_WEBHOOK: "slackWebhookUrl: alerts are not delivered to Slack",
                   grafana.GITHUB_CLIENT_SECRET: "grafanaGithubClientSecret: signing in with GitHub fails",
                   grafana.ZABBIX_TOKEN: "zabbixApiToken: Grafana's Zabbix data source cannot sign in (make a token in Zabbix's UI)",
                   grafana.DATABASE_PASSWORD: "grafanaDatabasePassword: Grafana cannot reach its database"}
        given = {}
        for name, value in args.secrets.items():
            if value is None:
                if name in needed:
                    pulumi.log.warn(f"the stack sets no {missing[name]}", self)
                given[name] = pulumi.Output.secret("")
            else:
                given[name] = pulumi.Output.secret(value.value)
        return {**made, **given}

    @staticmethod
    def _needed(shape: Plan) -> set[str]:
        """The placeholders the steps of `shape` use."""
        return {name for step in monitoring_steps(shape, {}, ()) for obj in step.objects for name in placeholders(json.dumps(obj))}
