"""kubeadm layer: from booted VMs to an HA cluster with a CNI, and safe changes afterwards.

Order, as dependencies (so `pulumi up` and the tests see the same graph):
  prepare(every node, in parallel: OS, containerd, kubelet/kubeadm/kubectl, the control-plane images)
  -> bootstrap (init on the bootstrap control plane), then at once:
     the other control planes join strictly one at a time (etcd member adds must not overlap);
     workers join in parallel, each after its own prepare;
     Cilium (Helm, components/helm.py, through a Kubernetes provider built from the admin kubeconfig): each
     node's agent starts when the node joins, and the node turns Ready with it.
  -> nodes-ready (on the bootstrap control plane): every node Ready. The layers above wait for it (`ready`).
Every join is preceded by its join ticket on another control plane (token and certificates renewed).

Changes later:
- A node's commands are triggered by its identity: the Pulumi IDs of its server and boot disk,
  stable across a resize, new when either is replaced. A replaced VM (servers are
  delete-before-replace) therefore replaces its `membership` first, whose delete runs the leave
  script (drain; etcd member removal for a control plane; Node deletion), then its join; the join
  resets whatever membership the node's disk still records for another identity.
- Removing a node deletes its membership (the leave script) before its join, prepare and VM.
- Raising `kubernetes.version` (or `kubernetes.containerdVersion`) re-runs the upgrade commands in a
  chain: the bootstrap control plane (`kubeadm upgrade apply`), then each other control plane, then
  each worker, drained and uncordoned. A node that joins meanwhile installs the version the control
  plane runs; its own upgrade step, later in the chain, moves it on.
- The bootstrap node's script initialises the cluster only when the `cluster-origin` record (Pulumi
  state) names this very VM as the one the cluster was made by; a replaced bootstrap node joins.
- A size change (components/resize.py): control planes one at a time, workers in batches of
  `workers.resizeBatchSize`; each node is drained first (`<node>-drain`) and its gate (`<node>-ready`:
  Node Ready, for a control plane etcd healthy on every member, uncordoned) must pass before the next
  node's drain and size change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pulumi_tls as tls

from . import artifacts
from .day_one import ClusterOrigin
from .helm import Applier
from .plan import ChartsPlan, Plan
from .remote import Host, SshAccess, as_command, run_script
from .resize import ResizeSteps, SizeFactory, batches, chain_resizes
from .render.kubeadm import (
    BOOTSTRAP_TOKEN,
    CERTIFICATE_KEY,
    CLUSTER_ADMINS_GROUP,
    ca_cert_hash,
    init_config,
    join_config,
)
from .render.charts import cilium
from .render.kubeconfig import admin_kubeconfig
from .render.node_scripts import (
    ADMIN_KUBECONFIG,
    KUBERNETES_CA_KEY,
    bootstrap_script,
    join_script,
    join_ticket_script,
    leave_script,
    nodes_ready_script,
    prepare_script,
    resize_drain_script,
    resize_gate_script,
    upgrade_script,
)

TEN_YEARS_HOURS = 10 * 365 * 24


def install_cilium(parent: pulumi.Resource, provider: k8s.Provider, plan: pulumi.Output[Plan], charts: ChartsPlan, *,
                   depends_on: list[pulumi.Resource], await_readiness: bool) -> pulumi.Resource:
    """The CNI, the first chart of any cluster (this layer's, or one made elsewhere: components/external_cluster.py)."""
    cni = Applier(parent, provider, plan, lambda p: (cilium.step(p),), (cilium.shape(charts),), chart_source=charts.source,
                  await_readiness=await_readiness)
    return cni.install(0, depends_on=depends_on, release_name=False)


@dataclass(frozen=True)
class KubernetesClusterArgs:
    plan: pulumi.Output[Plan]
    control_planes: tuple[str, ...]
    bootstrap_node: str
    workers: tuple[str, ...]
    kubernetes_version: str
    charts: ChartsPlan  # Cilium's version and where charts come from (components/charts.py)
    hosts: dict[str, Host]
    access: SshAccess
    prerequisites: tuple[pulumi.Resource, ...]
    records: pulumi.ProviderResource  # the project's provider plugin, for the cluster-origin record
    server_size: SizeFactory  # a node's ServerSize after what it must wait for (ClusterMachines.server_size)
    resize_batch_size: int = 1  # workers resized at once


class KubernetesCluster(pulumi.ComponentResource):
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    ca_cert: pulumi.Output[str]  # used by the stack output kubernetesCa: the CA Argo CD trusts this cluster's API by

    def __init__(self, name: str, args: KubernetesClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("contest-k8s:index:KubernetesCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        plan = args.plan

        # PKI and tokens, all before any node boots.
        ca_key = tls.PrivateKey("kubernetes-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        ca = tls.SelfSignedCert("kubernetes-ca", private_key_pem=ca_key.private_key_pem, is_ca_certificate=True,
                                validity_period_hours=TEN_YEARS_HOURS,
                                allowed_uses=["cert_signing", "crl_signing", "digital_signature", "key_encipherment"],
                                subject=tls.SelfSignedCertSubjectArgs(common_name="kubernetes"), opts=child)
        certificate_key = random.RandomBytes("certificate-key", length=32, opts=child)
        # One bootstrap token per node, made afresh for each VM it runs on (the keepers) and valid for an hour
        # after its join ticket: a token never outlives the join it is for. RandomPassword keeps it secret in state.
        tokens = {node: random.RandomPassword(f"{node}-join-token", length=22, upper=False, special=False,
                                              keepers={"server": args.hosts[node].identity[0], "disk": args.hosts[node].identity[1]},
                                              opts=child).result.apply(lambda t: f"{t[:6]}.{t[6:]}")
                  for node in args.control_planes + args.workers}
        ca_hash = ca.cert_pem.apply(ca_cert_hash)
        self.ca_cert = ca.cert_pem

        admin_key = tls.PrivateKey("admin-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        admin_csr = tls.CertRequest("admin-csr", private_key_pem=admin_key.private_key_pem, opts=child,
                                    subject=tls.CertRequestSubjectArgs(common_name="kubernetes-admin", organization=CLUSTER_ADMINS_GROUP))
        admin_cert = tls.LocallySignedCert("admin-cert", cert_request_pem=admin_csr.cert_request_pem,
                                           ca_private_key_pem=ca_key.private_key_pem, ca_cert_pem=ca.cert_pem,
                                           validity_period_hours=365 * 24, early_renewal_hours=30 * 24,
                                           allowed_uses=["digital_signature", "key_encipherment", "client_auth"], opts=child)
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(plan, ca.cert_pem, admin_cert.cert_pem, admin_key.private_key_pem).apply(
            lambda v: admin_kubeconfig(v[0], v[1], v[2], v[3])))

        shared_secrets = {CERTIFICATE_KEY: certificate_key.hex, KUBERNETES_CA_KEY: ca_key.private_key_pem, ADMIN_KUBECONFIG: self.kubeconfig}

        def run(resource: str, node: str, on: str, text, *, needs: tuple[str, ...] = (), depends_on=(), delete=None,
                replace_first: bool = False, extra_triggers: tuple = (), tied_to_host: bool = True):
            """A script about `node` run on host `on`: replaced when the node's VM is (and, if tied, when `on`'s is)."""
            node_identity = args.hosts[node].identity if on != node else ()
            secrets = {**shared_secrets, BOOTSTRAP_TOKEN: tokens[node]}
            return run_script(resource, args.hosts[on], args.access, text, secrets={n: secrets[n] for n in needs}, parent=self,
                              depends_on=depends_on, delete=delete, extra_triggers=(*node_identity, *extra_triggers),
                              delete_before_replace=replace_first, tied_to_host=tied_to_host)

        def identity(node: str) -> pulumi.Output[str]:
            """What the membership marker on the node records: the IDs of its server and boot disk."""
            server_id, disk_id = args.hosts[node].identity
            return pulumi.Output.concat("vm ", server_id, " disk ", disk_id)

        other_cp = {node: next(cp for cp in args.control_planes if cp != node) if len(args.control_planes) > 1 else node
                    for node in args.control_planes + args.workers}

        prepared = {}
        for node in args.control_planes + args.workers:
            text = plan.apply(lambda p, n=node: prepare_script(p, n))
            artifacts.publish(f"scripts/{node}/prepare.sh", "script", text, host=node)
            prepared[node] = run(f"{node}-prepare", node, node, text)

        artifacts.publish(f"kubeadm/{args.bootstrap_node}/init.yaml", "kubeadm", plan.apply(init_config), host=args.bootstrap_node)
        joined: dict[str, pulumi.Resource] = {}
        previous_cp: Optional[pulumi.Resource] = None
        for node in args.control_planes + args.workers:
            config = pulumi.Output.all(plan, ca_hash).apply(lambda v, n=node: join_config(v[0], n, v[1]))
            artifacts.publish(f"kubeadm/{node}/join.yaml", "kubeadm", config, host=node)
            is_cp = node in args.control_planes
            join_secrets = (BOOTSTRAP_TOKEN, CERTIFICATE_KEY) if is_cp else (BOOTSTRAP_TOKEN,)
            ticket_host = other_cp[node] if node == args.bootstrap_node else args.bootstrap_node
            ticket_text = plan.apply(lambda p, n=node: join_ticket_script(p, n))
            artifacts.publish(f"scripts/{node}/join-ticket.sh", "script", ticket_text, host=ticket_host)
            if node == args.bootstrap_node:
                # Which VM made the cluster, from the state: a bootstrap node that is not that VM joins.
                origin = ClusterOrigin("cluster-origin", identity(node), args.records, parent=self)
                text = pulumi.Output.all(plan, ca.cert_pem, ca_hash, identity(node), origin.initialisedBy).apply(
                    lambda v: bootstrap_script(v[0], v[1], v[2], v[3], v[4] if v[4] != v[3] else None))
                artifacts.publish(f"scripts/{node}/bootstrap.sh", "script", text, host=node)
                ticket = run(f"{node}-join-ticket", node, ticket_host, ticket_text, needs=join_secrets)
                joined[node] = run(f"{node}-join", node, node, text, needs=join_secrets + (KUBERNETES_CA_KEY,),
                                   depends_on=[prepared[node], ticket, *args.prerequisites], replace_first=True)
            else:
                text = pulumi.Output.all(plan, ca_hash, identity(node)).apply(lambda v, n=node: join_script(v[0], n, v[1], v[2]))
                artifacts.publish(f"scripts/{node}/join.sh", "script", text, host=node)
                ticket = run(f"{node}-join-ticket", node, ticket_host, ticket_text, needs=join_secrets,
                             depends_on=[joined[args.bootstrap_node]])
                after = [prepared[node], ticket, joined[args.bootstrap_node]]
                if is_cp and previous_cp is not None:
                    after.append(previous_cp)  # control planes join strictly one at a time
                joined[node] = run(f"{node}-join", node, node, text, needs=join_secrets, depends_on=after, replace_first=True)
            if node in args.control_planes:
                previous_cp = joined[node]

        # Leaving: control-plane memberships form a chain, so their deletes (etcd member removals) never overlap.
        previous_membership: Optional[pulumi.Resource] = None
        for node in args.control_planes + args.workers:
            text = plan.apply(lambda p, n=node: leave_script(p, n, other_cp[n]))
            artifacts.publish(f"scripts/{node}/leave.sh", "script", text, host=other_cp[node])
            after = [joined[node]] + ([previous_membership] if node in args.control_planes and previous_membership else [])
            # Tied to the node only: replacing the control plane it runs on must not make every node leave.
            membership = run(f"{node}-membership", node, other_cp[node], "true", depends_on=after,
                             delete=as_command(text, args.hosts[other_cp[node]]), replace_first=True, tied_to_host=False)
            if node in args.control_planes:
                previous_membership = membership

        # Upgrades: one chain over every node, bootstrap first, then control planes, then workers.
        previous_upgrade: Optional[pulumi.Resource] = None
        for node in args.control_planes + args.workers:
            text = plan.apply(lambda p, n=node: upgrade_script(p, n))
            artifacts.publish(f"scripts/{node}/upgrade.sh", "script", text, host=node)
            after = [joined[node]] + ([previous_upgrade] if previous_upgrade else [])
            needs = (ADMIN_KUBECONFIG,) if node in args.workers else ()
            previous_upgrade = run(f"{node}-upgrade", node, node, text, needs=needs, depends_on=after,
                                   extra_triggers=(args.kubernetes_version,))

        # Size changes: each node drained, resized, Ready again (etcd healthy) before the next one.
        def drain(node: str, after) -> pulumi.Resource:
            text = plan.apply(lambda p, n=node: resize_drain_script(p, n))
            artifacts.publish(f"scripts/{node}/resize-drain.sh", "script", text, host=node)
            return run(f"{node}-drain", node, node, text, needs=(ADMIN_KUBECONFIG,) if node in args.workers else (), depends_on=after)

        def gate(node: str, size: pulumi.Resource) -> pulumi.Resource:
            text = plan.apply(lambda p, n=node: resize_gate_script(p, n))
            artifacts.publish(f"scripts/{node}/resize-gate.sh", "script", text, host=node)
            return run(f"{node}-ready", node, node, text, needs=(ADMIN_KUBECONFIG,) if node in args.workers else (), depends_on=[size])

        steps = ResizeSteps(drain, gate)
        chain_resizes([[cp] for cp in args.control_planes], args.server_size, steps)
        chain_resizes(batches(args.workers, args.resize_batch_size), args.server_size, steps)

        self.provider = k8s.Provider("kubernetes", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[joined[args.bootstrap_node]]))
        # As soon as the API answers, while the other nodes join: each node's agent starts when it joins (a DaemonSet),
        # and the node turns Ready with it.
        self.cilium = install_cilium(self, self.provider, plan, args.charts, depends_on=[joined[args.bootstrap_node]],
                                     await_readiness=True)
        # What the layers above wait for: every node joined and Ready on the CNI (their workloads run on the workers).
        text = plan.apply(lambda p: nodes_ready_script(p, args.bootstrap_node))
        artifacts.publish(f"scripts/{args.bootstrap_node}/nodes-ready.sh", "script", text, host=args.bootstrap_node)
        self.ready: tuple[pulumi.Resource, ...] = (
            run("nodes-ready", args.bootstrap_node, args.bootstrap_node, text, depends_on=[self.cilium, *joined.values()]),)
        self.register_outputs({"kubeconfig": self.kubeconfig})
