"""The program: read and validate the stack config, then compose the layers the stack enables."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_random as random
import pulumi_tls as tls
from pulumi.runtime import config as runtime_config

from . import artifacts
from .api_endpoint import ApiLoadBalancer, ApiLoadBalancerArgs
from .config import ROUTER_NAME, ConfigError, LoadedConfig, load_config
from .day_one import record_day_one
from .edge_router import EdgeRouter, EdgeRouterArgs
from .external_cluster import ExternalCluster
from .kubernetes_cluster import KubernetesCluster, KubernetesClusterArgs
from .layers.addons import ClusterAddons, ClusterAddonsArgs
from .layers.gitops import API_ENDPOINT, CA, TOKEN, ArgoCdAccess, ArgoCdAccessArgs, GitOps, GitOpsArgs
from .layers.monitoring import Monitoring, MonitoringArgs
from .machines import ClusterMachines, ClusterMachinesArgs
from .node_access import NodeAccess, NodeAccessArgs
from .plan import charts_plan, control_plane_order, machine_shapes, shape_plan
from .remote import SshAccess
from .resize import batches, chain_resizes
from .render.charts.grafana import DATABASE_PASSWORD, GITHUB_CLIENT_SECRET, ZABBIX_TOKEN
from .render.charts.kube_prometheus_stack import SLACK_WEBHOOK
from .render.dashboards import load as load_dashboards
from .render.topology import topology_dot
from .sakura.provider import PACKAGE
from .stack_file import peer_configs


def config_from_pulumi() -> LoadedConfig:
    """All config the engine passed (plain and secret keys), validated; errors name Pulumi.<stack>.yaml."""
    raw = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = frozenset(runtime_config.get_config_secret_keys_env()) | frozenset(runtime_config._SECRET_KEYS.get())
    stack = pulumi.get_stack()
    # Cluster peers' stack files sit beside this one in the project directory, where the engine runs the program.
    return load_config(raw, stack=stack, source=f"Pulumi.{stack}.yaml", secret_keys=secret_keys, peers=peer_configs(Path.cwd()))


def deploy() -> None:
    try:
        loaded = config_from_pulumi()
        # Every dashboard is checked (size, uid, data-source variable) before anything is created.
        dashboards = load_dashboards(Path.cwd()) if loaded.config.layers.monitoring_on else ()
    except ConfigError as e:
        raise pulumi.RunError(str(e)) from None
    c = loaded.config

    # The project's provider plugin, configured with the Sakura API key from the stack secrets (or, when
    # they are unset, the environment); then the day-one record, whose check refuses a change of what a
    # running cluster cannot change before anything else is touched.
    provider = pulumi.ProviderResource(PACKAGE, "sakura", {
        "apiRootUrl": c.sakura_api_root_url,
        **{key: pulumi.Output.secret(value.value) for key, value in (("accessToken", c.sakura_access_token),
                                                                  ("accessTokenSecret", c.sakura_access_token_secret)) if value},
    })
    record_day_one(loaded, provider)
    # This state's identity, tagged on every Sakura object it makes: another state with the same
    # project and stack name never adopts (or deletes) them.
    owner = random.RandomId("state-owner", byte_length=8)

    # One key pair per stack, made inside Pulumi state: Sakura installs the public half by disk
    # edit, pulumi-command connects with the private half. Operators may add their own keys.
    ssh = tls.PrivateKey("ssh", algorithm="ED25519")
    # The login user's password, set by disk edit and used once per VM to allow sudo without it.
    login_password = pulumi.Output.secret(random.RandomPassword("login-password", length=32, special=False).result)
    access = SshAccess(ssh.private_key_openssh)
    # Who may log in as the login user: the stack's own key first (the program uses it), then the operators'.
    login_keys = ssh.public_key_openssh.apply(lambda key: (key.strip(), *c.ssh.authorized_keys))
    machines = ClusterMachines("machines", ClusterMachinesArgs(loaded, ssh.public_key_openssh, login_password, provider, owner.hex,
                                                                 login_keys))
    plan = machines.plan
    artifacts.publish("topology.svg", "diagram", plan.apply(lambda p: topology_dot(p, c.layers, c.wireguard.cluster_peers)))

    pulumi.export("routerBlock", plan.apply(lambda p: str(p.global_block.network)))
    pulumi.export("nodes", plan.apply(lambda p: {m.name: str(m.address) for m in p.machines}))
    pulumi.export("sshPrivateKey", pulumi.Output.secret(ssh.private_key_openssh))

    shapes = {s.name: s for s in machine_shapes(loaded)}
    vm_access = dict(plan=plan, servers=machines.servers, boot_disks=machines.boot_disks, access=access, password=login_password,
                 stack_key=ssh.public_key_openssh, operator_keys=c.ssh.authorized_keys)
    router_host, router_ready = None, ()
    if c.layers.edge:
        router_access = NodeAccess("router-access", NodeAccessArgs([shapes[ROUTER_NAME]], **vm_access))
        router_host = router_access.hosts[ROUTER_NAME]
        edge = EdgeRouter("edge", EdgeRouterArgs(plan, c.router.flavor, router_host, access,
                                                 tuple(sorted(c.wireguard.cluster_peers.items())), login_keys))
        pulumi.export("wireguard", edge.wireguard)
        router_ready = (edge.config,)

    def role(name: str) -> tuple[str, ...]:
        return tuple(n for n, s in shapes.items() if s.role == name)

    # Size changes (components/resize.py): the layers drain and gate their own nodes; the router, and
    # the roles of a layer that is off, have their sizes chained directly, one VM (or batch) at a time.
    chain_resizes([[ROUTER_NAME]], machines.server_size)
    if not c.layers.api_load_balancer:
        chain_resizes([[n] for n in role("api-lb")], machines.server_size)
    if not c.layers.kubernetes:
        chain_resizes([[n] for n in control_plane_order(loaded)], machines.server_size)
        chain_resizes(batches(role("worker"), c.workers.resize_batch_size), machines.server_size)

    reached = (role("api-lb") if c.layers.api_load_balancer else ()) + \
        (role("control-plane") + role("worker") if c.layers.kubernetes else ())
    # The sandbox zone, where VMs never boot, reaches none: nothing but the VM layer.
    nodes = NodeAccess("node-access", NodeAccessArgs([shapes[n] for n in reached], **vm_access, jump=router_host,
                                                     after=router_ready)) if reached else None

    if c.layers.api_load_balancer:
        api = ApiLoadBalancer("api-endpoint", ApiLoadBalancerArgs(plan, {n: nodes.hosts[n] for n in role("api-lb")}, access,
                                                                  machines.server_size))
        pulumi.export(API_ENDPOINT, api.endpoint)

    cluster = None
    if c.layers.kubernetes:
        control_planes = control_plane_order(loaded)
        cluster = KubernetesCluster("kubernetes", KubernetesClusterArgs(
            plan=plan,
            control_planes=control_planes,
            bootstrap_node=control_planes[0],
            workers=role("worker"),
            kubernetes_version=c.kubernetes.version,
            charts=charts_plan(loaded),
            hosts=nodes.hosts,
            access=access,
            prerequisites=(*router_ready, *api.setups.values()),
            records=provider,
            server_size=machines.server_size,
            resize_batch_size=c.workers.resize_batch_size,
        ))
        pulumi.export("kubeconfig", cluster.kubeconfig)
        pulumi.export(CA, cluster.ca_cert)
    elif c.external_kubeconfig is not None:
        cluster = ExternalCluster("external-cluster", c.external_kubeconfig.value, plan, charts_plan(loaded),
                                  c.kubernetes.await_readiness)

    if c.layers.addons_on:
        addons = ClusterAddons("addons", ClusterAddonsArgs(plan, shape_plan(loaded), cluster.provider, cluster.ready,
                                                           loaded.protect_stateful, c.kubernetes.await_readiness))
        pulumi.export("gateways", addons.gateways)

    if c.layers.monitoring_on:
        secrets = {SLACK_WEBHOOK: c.slack_webhook_url, GITHUB_CLIENT_SECRET: c.grafana_github_client_secret,
                   DATABASE_PASSWORD: c.grafana_database_password, ZABBIX_TOKEN: c.zabbix_api_token}
        monitoring = Monitoring("monitoring", MonitoringArgs(
            plan, shape_plan(loaded), cluster.provider, (*cluster.ready, *addons.made["gateway"]),
            tuple(addons.made["rook-ceph-cluster"]), tuple(sorted(c.wireguard.cluster_peers.items())), dashboards, secrets, loaded.protect_stateful,
            c.kubernetes.await_readiness))
        pulumi.export("monitoring", monitoring.endpoints)

    # GitOps: Argo CD where layers.gitops is on (wsp); every other cluster kubeadm made gives it access and exports it.
    if c.layers.gitops:
        gitops = GitOps("gitops", GitOpsArgs(plan, shape_plan(loaded), cluster.provider, tuple(addons.gateway_api),
                                             c.kubernetes.await_readiness,
                                             c.gitops_github_client_secret.value if c.gitops_github_client_secret else None,
                                             c.gitops_slack_token.value if c.gitops_slack_token else None))
        pulumi.export("argocdClusters", gitops.clusters)
    elif c.layers.kubernetes:
        access = ArgoCdAccess("argocd-access", ArgoCdAccessArgs(plan, shape_plan(loaded), cluster.provider, (cluster.cilium,)))
        pulumi.export(TOKEN, access.token)
