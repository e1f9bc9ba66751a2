"""Add-ons layer: what makes a bare cluster useful, through the kubeadm layer's Kubernetes provider.

Steps (render/charts: `addon_steps`), each a chart and the objects applied once it is ready:
  namespaces, then at once:
  MetalLB (BGP speakers on the workers) -> its pools, BGP peer and advertisement
  Envoy Gateway (Gateway API CRDs) -> GatewayClass, the global and private Gateways, the HTTPS redirect
     (after MetalLB's pools: each Gateway's LoadBalancer Service needs them)
  -> cert-manager (Gateway API support on: it needs those CRDs at start) -> ACME account keys, ClusterIssuers,
     the global Gateway's Certificate (after the Gateways: HTTP-01 goes through the global one)
  Rook-Ceph operator (CRDs) -> Ceph cluster, RBD and CephFS pools, storage classes
  descheduler
  -> the smoke test, when asked for (after the certificate and the Ceph cluster).
Everything waits for the CNI and every node's join (the kubeadm layer's `ready`): nothing schedules before them.

A chart's CRDs are served once it is ready, so every custom resource depends on the chart that
defines it. A step's chart waits for the charts it needs (`Step.needs`), its objects for the objects
of the steps they need (`Step.objects_need`): charts that need nothing of each other install at once,
which keeps the add-ons to two chart installs after the CNI on the critical path. Which chart is a Chart and which a
Release, and why, is in components/charts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from ..helm import Applier
from ..plan import Plan
from ..render.charts import addon_steps
from ..render.charts.cert_manager import SERVERS, account_key


@dataclass(frozen=True)
class ClusterAddonsArgs:
    plan: pulumi.Output[Plan]
    shape: Plan  # the plan on an assumed block (plan.shape_plan): which resources to make
    provider: k8s.Provider  # KubernetesCluster.provider
    after: tuple[pulumi.Resource, ...]  # the cluster's `ready`: the CNI and every node joined
    protect_stateful: bool  # protect the Ceph releases (prd)
    await_readiness: bool = True  # kubernetes.awaitReadiness (components/helm.py)


class ClusterAddons(pulumi.ComponentResource):
    gateways: pulumi.Output[dict]  # used by the stack output `gateways`: where addons.gateway.hostnames must point
    gateway_api: list[pulumi.Resource]  # used by gitops: Envoy Gateway, whose Gateway API CRDs Argo CD's HTTPRoute needs
    made: dict[str, list[pulumi.Resource]]  # each step's resources; the monitoring layer waits for Ceph and the Gateways

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("contest-k8s:index:ClusterAddons", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        shape = args.shape
        # The ACME accounts' keys live in the state (secret) and reach the cluster as Secrets the issuers name.
        keys = {account_key(server): tls.PrivateKey(account_key(server), algorithm="ECDSA", ecdsa_curve="P256", opts=child).private_key_pem
                for server in SERVERS}
        applier = Applier(self, args.provider, args.plan, addon_steps, addon_steps(shape), chart_source=shape.charts.source,
                          await_readiness=args.await_readiness, secrets=keys)
        self.made = applier.apply_all(args.after, protect=args.protect_stateful)
        self.gateway_api = self.made["gateway"][:1]  # Envoy Gateway's chart

        self.gateways = args.plan.apply(lambda p: {name: str(address) for name, address in (
            ("global", p.addons.global_gateway), ("private", p.addons.private_gateway)) if address is not None})
        self.register_outputs({"gateways": self.gateways})
