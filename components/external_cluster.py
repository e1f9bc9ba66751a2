"""An API server without nodes for the Kubernetes layers, reached with `externalKubeconfig` from the stack's secrets.

It stands where the kubeadm layer's KubernetesCluster stands (a provider, the CNI after it), so the
layers above (add-ons and on) are the same resources with the same names, checked by the real engine,
pulumi-kubernetes, Helm and the API server. The tests bring one up on 127.0.0.1 (tests/control_plane.py:
etcd and kube-apiserver, no kubelet), with `kubernetes.awaitReadiness: false` since no pod ever runs
there (components/helm.py). Not a way to install onto another cluster: Cilium's values are this plan's.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from .kubernetes_cluster import install_cilium
from .plan import ChartsPlan, Plan


class ExternalCluster(pulumi.ComponentResource):
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(self, name: str, kubeconfig: str, plan: pulumi.Output[Plan], charts: ChartsPlan, await_readiness: bool,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("contest-k8s:index:ExternalCluster", name, None, opts)
        self.kubeconfig = pulumi.Output.secret(kubeconfig)
        self.provider = k8s.Provider("kubernetes", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self))
        self.cilium = install_cilium(self, self.provider, plan, charts, depends_on=[], await_readiness=await_readiness)
        self.ready: tuple[pulumi.Resource, ...] = (self.cilium,)  # what the layers above wait for: no node to be Ready
        self.register_outputs({})
