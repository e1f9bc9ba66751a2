"""GitOps layer: Argo CD in wsp deploys to prd, dev and wsp; every other cluster gives it access.

`GitOps` (where `layers.gitops` is on), through the kubeadm layer's Kubernetes provider:
  the argocd namespace, then the argo-cd chart (after Envoy Gateway: its HTTPRoute needs the Gateway API CRDs)
  -> the Secrets it names (GitHub OAuth client secret, Slack token), the AppProjects, the Applications
  the argocd namespace -> one cluster Secret per environment whose stack has exported its access.
Each environment's stack is read with the engine's readStackOutputs (components/stack_outputs.py): a stack
that does not exist yet, or has not exported its access yet, is left out with a warning, and the next
`pulumi up` of wsp registers it. Its token stays a secret from its stack's outputs to the cluster Secret.

`ArgoCdAccess` (every other cluster with Kubernetes): the `argocd-manager` ServiceAccount, its ClusterRole and
binding, then its long-lived token Secret, whose token is the stack output `argocdToken` (secret).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from ..helm import Applier
from ..plan import GitOpsPlan, Plan
from ..render.charts.argo_cd import GITHUB_CLIENT_SECRET, NAMESPACE, SLACK_TOKEN, ClusterRegistration, access_steps, gitops_steps
from ..stack_outputs import read_stack_outputs

# What a cluster exports for Argo CD (stack outputs), and what wsp reads.
API_ENDPOINT, CA, TOKEN = "apiEndpoint", "kubernetesCa", "argocdToken"


@dataclass(frozen=True)
class GitOpsArgs:
    plan: pulumi.Output[Plan]
    shape: Plan  # the plan on an assumed block (plan.shape_plan): which resources to make
    provider: k8s.Provider  # KubernetesCluster.provider
    after: tuple[pulumi.Resource, ...]  # Envoy Gateway (ClusterAddons.gateway_api)
    await_readiness: bool  # kubernetes.awaitReadiness (components/helm.py)
    github_client_secret: Optional[str]  # gitopsGithubClientSecret; None: not set yet (log-in fails until it is)
    slack_token: Optional[str]  # gitopsSlackToken; None: not set yet (no notification is delivered until it is)


class GitOps(pulumi.ComponentResource):
    clusters: pulumi.Output[dict]  # used by the stack output `argocdClusters`: each registered environment's API server

    def __init__(self, name: str, args: GitOpsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("contest-k8s:index:GitOps", name, None, opts)
        gitops = args.shape.gitops
        assert gitops is not None
        registered, tokens = self._registrations(gitops)
        secrets = {**tokens, GITHUB_CLIENT_SECRET: self._secret(args.github_client_secret, "gitopsGithubClientSecret",
                                                                "nobody can log in to Argo CD"),
                   SLACK_TOKEN: self._secret(args.slack_token, "gitopsSlackToken", "Argo CD's notifications are not delivered")}
        applier = Applier(self, args.provider, args.plan, lambda p: gitops_steps(p, registered), gitops_steps(args.shape, registered),
                          chart_source=args.shape.charts.source, await_readiness=args.await_readiness, secrets=secrets)
        namespace = applier.namespaces(depends_on=args.after, file="gitops-namespaces")[NAMESPACE]
        chart = applier.install(0, depends_on=[*args.after, namespace])
        applier.apply(0, depends_on=[chart])
        # A registration that leaves the program (its stack unreadable, its outputs elided) stays in the cluster:
        # Argo CD keeps deploying there; the next update that reads the stack takes it over again (server-side apply).
        applier.apply(1, depends_on=[namespace], retain_on_delete=True)
        self.clusters = pulumi.Output.from_input({r.environment: r.server for r in registered})
        self.register_outputs({"clusters": self.clusters})

    def _registrations(self, gitops: GitOpsPlan) -> tuple[tuple[ClusterRegistration, ...], dict[str, pulumi.Output]]:
        """The environments whose stacks exported Argo CD's access, and their tokens (secret), by placeholder."""
        registered, tokens = [], {}
        for environment in gitops.environments:
            if environment.stack is None:
                continue  # Argo CD's own cluster
            reader = f"Argo CD environment {environment.name}"
            outputs = read_stack_outputs(environment.stack, reader, self)
            if outputs is None:
                continue
            endpoint, ca, token = outputs.plain(API_ENDPOINT), outputs.plain(CA), outputs.secret(TOKEN)
            if not (endpoint and ca and token is not None):
                pulumi.log.warn(f"{reader}: stack {environment.stack} has not exported {API_ENDPOINT}, {CA} and {TOKEN} yet "
                                "(its Kubernetes layer makes them); it is registered by the next update after it has", self)
                continue
            registration = ClusterRegistration(environment.name, f"https://{endpoint}", ca)
            registered.append(registration)
            tokens[registration.token] = token
        return tuple(registered), tokens

    def _secret(self, value: Optional[str], key: str, without: str) -> pulumi.Output:
        if value is None:
            pulumi.log.warn(f"{key} is not set: {without} until `pulumi config set --secret {key} ...` and an update", self)
        return pulumi.Output.secret(value or "")


@dataclass(frozen=True)
class ArgoCdAccessArgs:
    plan: pulumi.Output[Plan]
    shape: Plan
    provider: k8s.Provider  # KubernetesCluster.provider
    after: tuple[pulumi.Resource, ...]  # the CNI


class ArgoCdAccess(pulumi.ComponentResource):
    token: pulumi.Output[str]  # used by the stack output argocdToken (secret), which wsp's Argo CD registers this cluster with

    def __init__(self, name: str, args: ArgoCdAccessArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("contest-k8s:index:ArgoCdAccess", name, None, opts)
        applier = Applier(self, args.provider, args.plan, access_steps, access_steps(args.shape), chart_source=None,
                          await_readiness=True)  # only kubeadm's clusters, whose nodes run pods
        account = applier.apply(0, depends_on=args.after)
        # Replaced (a rotation: `pulumi up --replace`) delete first: the new Secret has the same name, and the create of
        # server-side apply would take over the old object that the delete then removes.
        token_secret = next(r for r in applier.apply(1, depends_on=account, delete_before_replace=True)
                            if isinstance(r, k8s.core.v1.Secret))
        # The token controller fills it in; pulumi-kubernetes waits for it before the Secret is created.
        self.token = pulumi.Output.secret(token_secret.data.apply(lambda data: base64.b64decode(data["token"]).decode()))
        self.register_outputs({"token": self.token})
