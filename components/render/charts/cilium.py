"""Cilium, the CNI the kubeadm layer installs as soon as the bootstrap control plane answers."""

from __future__ import annotations

from ...charts import CILIUM
from ...plan import ChartsPlan, Plan
from . import Step


def values(plan: Plan) -> dict:
    """VXLAN between the two segments (routed by the edge router), pod CIDRs from kubeadm."""
    api = plan.api
    return {
        "cluster": {"name": plan.kubernetes.cluster_name},
        "k8sServiceHost": str(api.vip.ip),
        "k8sServicePort": api.port,
        "kubeProxyReplacement": "false",
        "routingMode": "tunnel",
        "tunnelProtocol": "vxlan",
        "ipam": {"mode": "kubernetes"},
        "operator": {"replicas": 2, "rollOutPods": True},
        "rollOutCiliumPods": True,
        "bgpControlPlane": {"enabled": False},
    }


def shape(charts: ChartsPlan) -> Step:
    """The step without its values: what the layer makes, known before the plan is."""
    return Step("cilium", CILIUM.namespace, CILIUM, charts.version(CILIUM))


def step(plan: Plan) -> Step:
    return Step("cilium", CILIUM.namespace, CILIUM, plan.charts.version(CILIUM), values(plan))
