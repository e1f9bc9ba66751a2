"""The cluster plan: every VM, NIC, address, pool, BGP session, tunnel and version, as pure data.

`build_plan(config, block)` is a pure function of the validated config and the global block
Sakura assigned to the router+switch (known only once that resource exists; the offline render
uses a TEST-NET block). Nodes are identified by name everywhere and listed in natural name order,
so adding `worker-4` adds entries and changes nothing about `worker-1..3`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Literal, Optional

from . import charts
from .config import (FLOW_COLLECTOR_HOST, PROJECT, PROMETHEUS_HEADROOM_MIN_GIB, PROMETHEUS_HEADROOM_PERCENT, ROUTER_NAME,
                     VRRP_PRIORITY_STEP, VRRP_TOP_PRIORITY, ZABBIX_HOST, ZABBIX_PLUGIN, LoadedConfig, first_node, natural_key)
from .sakura import catalog

Role = Literal["router", "api-lb", "control-plane", "worker"]
Segment = Literal["global", "private"]
API_PORT = 6443
WIREGUARD_INTERFACE = "wg0"


class PlanError(Exception):
    """The cloud handed back something the config cannot fit in (e.g. a smaller usable range)."""


@dataclass(frozen=True)
class GlobalBlock:
    """The router+switch block as Sakura reports it: network, gateway and usable range."""

    network: IPv4Network
    gateway: IPv4Address
    first_usable: IPv4Address
    last_usable: IPv4Address

    @classmethod
    def assumed(cls, network: IPv4Network) -> "GlobalBlock":
        """The documented layout: +1 gateway, +2/+3 router, usable from +4 to broadcast-1."""
        base = network.network_address
        return cls(network, base + 1, base + catalog.FIRST_USABLE_OFFSET, network.broadcast_address - 1)

    def host(self, offset: int) -> IPv4Address:
        return self.network.network_address + offset


@dataclass(frozen=True)
class Nic:
    segment: Segment
    address: IPv4Interface
    gateway: Optional[IPv4Address]
    interface: str


@dataclass(frozen=True)
class DiskSource:
    """Where a boot disk comes from: a public archive by OS tag, an archive ID, or an image to upload."""

    os_tag: Optional[str] = None
    archive_id: Optional[str] = None
    upload_file: Optional[str] = None
    upload_size_gb: int = 20


@dataclass(frozen=True)
class MachineShape:
    """What a VM is, known from the config alone: the VM layer creates resources from this."""

    name: str
    role: Role
    cpu: int
    memory_gb: int
    disk_gb: int
    data_disk_gb: Optional[int]
    disk_source: DiskSource
    ssh_user: str
    segments: tuple[Segment, ...]
    hosts: tuple[int, ...]
    interfaces: tuple[str, ...]


@dataclass(frozen=True)
class Machine(MachineShape):
    """A VM with its addresses, once the router's block is known."""

    nics: tuple[Nic, ...] = ()

    @property
    def address(self) -> IPv4Address:
        """The address the node is managed by: its first NIC."""
        return self.nics[0].address.ip


@dataclass(frozen=True)
class Pool:
    """A MetalLB address pool and the networks that cover it (for routes and proxy-ARP)."""

    name: str
    addresses: tuple[str, ...]
    networks: tuple[IPv4Network, ...]


@dataclass(frozen=True)
class BgpNeighbor:
    name: str
    address: IPv4Address


@dataclass(frozen=True)
class BgpPlan:
    router_asn: int
    speaker_asn: int
    router_id: IPv4Address
    router_address: IPv4Address
    neighbors: tuple[BgpNeighbor, ...]
    hold_time: int
    keepalive: int
    max_paths: int


@dataclass(frozen=True)
class WireGuardPeer:
    name: str
    public_key: str
    allowed_ips: tuple[IPv4Network, ...]
    endpoint: Optional[str]
    persistent_keepalive: Optional[int]
    # Destinations behind this peer that the router reaches from its own tunnel address (source NAT): another
    # cluster's API VIP, whose load balancers route only the tunnel network back through their router.
    from_tunnel_address: tuple[IPv4Network, ...] = ()


@dataclass(frozen=True)
class WireGuardPlan:
    interface: str
    address: IPv4Interface
    listen_port: int
    endpoint_host: IPv4Address
    routed_prefixes: tuple[IPv4Network, ...]
    peers: tuple[WireGuardPeer, ...]
    persistent_keepalive: int


@dataclass(frozen=True)
class RouterPlan:
    name: str
    flavor: Literal["vyos", "frr"]
    global_address: IPv4Interface
    private_address: IPv4Interface
    upstream_gateway: IPv4Address
    snat_sources: tuple[IPv4Network, ...]
    snat_exempt_destinations: tuple[IPv4Network, ...]


@dataclass(frozen=True)
class LoadBalancerNode:
    name: str
    address: IPv4Address
    priority: int


@dataclass(frozen=True)
class ControlPlaneNode:
    name: str
    address: IPv4Address


@dataclass(frozen=True)
class ApiEndpointPlan:
    vip: IPv4Interface
    port: int
    load_balancers: tuple[LoadBalancerNode, ...]
    control_planes: tuple[ControlPlaneNode, ...]
    vrrp_mode: Literal["unicast", "multicast"]
    virtual_router_id: int
    advert_interval: int

    @property
    def endpoint(self) -> str:
        return f"{self.vip.ip}:{self.port}"


@dataclass(frozen=True)
class KubernetesPlan:
    version: str
    minor: str
    cluster_name: str
    pod_cidr: IPv4Network
    service_cidr: IPv4Network
    control_plane_endpoint: str
    certificate_sans: tuple[str, ...]
    not_ready_toleration_seconds: int
    unreachable_toleration_seconds: int
    containerd_version: str  # containerd.io 2.x, e.g. 2.2.1-1 (render/containerd.py)
    bootstrap_node: str
    control_planes: tuple[str, ...]
    workers: tuple[str, ...]


@dataclass(frozen=True)
class ChartsPlan:
    """Where this stack's charts come from and the version of each (components/charts.py, `charts` in the stack file)."""

    source: Optional[str]  # a local directory of chart folders; None: the Helm repositories
    versions: tuple[tuple[str, str], ...]  # every chart of charts.ALL: (name, version this stack installs)

    def version(self, chart: "charts.Chart") -> str:
        return dict(self.versions)[chart.name]


# A worker's data disk as the guest sees it: Sakura attaches a server's disks in order, as virtio, so the boot
# disk is vda and the data disk (the second, machines.py) is vdb.
DATA_DISK_DEVICE = "/dev/vdb"


@dataclass(frozen=True)
class CephOsd:
    node: str
    device: str


@dataclass(frozen=True)
class AddonsPlan:
    """The add-ons layer: addresses of the Gateways, ACME, the Ceph OSDs and pools, the descheduler."""

    acme_email: str
    acme_server: Literal["staging", "production"]
    hostnames: tuple[str, ...]  # of the global Gateway's HTTPS listener and its certificate
    global_gateway: IPv4Address  # the first address of the global pool
    private_gateway: Optional[IPv4Address]  # the first usable address of the private pool, if there is one
    osds: tuple[CephOsd, ...]  # one per worker, on its data disk
    ceph_replicas: int
    ceph_mons: int  # 3 on different workers (1 with fewer than 3 workers)
    ceph_mgrs: int  # 2 on different workers (1 with one worker)
    descheduler_schedule: str
    smoke_test: bool


def prometheus_retention_gib(volume_gb: int) -> int:
    """Retention by size for a Prometheus volume of `volume_gb` GiB: the volume less its headroom (a share of it, and never
    less than PROMETHEUS_HEADROOM_MIN_GIB) for the WAL, the head block and compaction. Always below the volume."""
    headroom = max(PROMETHEUS_HEADROOM_MIN_GIB, -(-volume_gb * PROMETHEUS_HEADROOM_PERCENT // 100))
    return volume_gb - headroom


# Where the router's metrics are scraped (on its private address): node exporter (frr flavor) or VyOS's telegraf.
ROUTER_METRICS_PORTS = {"frr": 9100, "vyos": 9273}


@dataclass(frozen=True)
class GrafanaPlan:
    hostname: str
    replicas: int
    database: Optional[tuple[str, str, str, str]]  # (type, host:port, name, user)
    github_client_id: Optional[str]
    github_organizations: tuple[str, ...]
    github_team_ids: tuple[int, ...]
    plugins: tuple[str, ...]
    zabbix_source: bool  # a Zabbix data source (this stack runs Zabbix and Grafana has its plugin)


@dataclass(frozen=True)
class MonitoringPlan:
    """The monitoring layer: Prometheus's volume and retention, where metrics and logs go, what is scraped and probed,
    and what runs in the cluster that shows them (Grafana, Loki, the flow collector, Zabbix)."""

    cluster: str  # the `cluster` label on every series and alert this cluster sends
    prometheus_volume_gib: int
    prometheus_retention_gib: int  # prometheus_retention_gib(volume): below the volume, by construction
    prometheus_retention_days: int
    slack_channel: str
    send_to: Optional[str]  # a cluster peer (wireguard.clusterPeers) that receives metrics and logs
    receive_from: tuple[str, ...]  # cluster peers that send here (each watched by a dead man's switch)
    watch: tuple[str, ...]  # cluster peers whose heartbeat is watched here
    probes: tuple[str, ...]  # URLs the blackbox exporter probes
    router_metrics: str  # address:port of the router's exporter
    private_gateway: IPv4Address  # where other clusters reach this one's Prometheus (and Loki)
    grafana: Optional[GrafanaPlan]  # Grafana and Loki run where Grafana does
    loki_volume_gib: int
    loki_retention_days: int
    log_alert_patterns: tuple[str, ...]
    flow_collector: Optional[IPv4Address]  # on the private pool, when on
    zabbix: Optional[IPv4Address]  # Zabbix's web UI on the private pool, when on
    zabbix_ipmi_pollers: int
    zabbix_volume_gib: int


# Argo CD's name for the cluster it runs in (its built-in registration, https://kubernetes.default.svc).
IN_CLUSTER = "in-cluster"


@dataclass(frozen=True)
class SyncWindowPlan:
    kind: Literal["allow", "deny"]
    schedule: str
    duration: str
    time_zone: str
    manual_sync: bool


@dataclass(frozen=True)
class ApplicationPlan:
    name: str  # <application>-<environment>: Application names are unique in Argo CD's namespace
    repo_url: str
    path: str
    target_revision: str
    namespace: str


@dataclass(frozen=True)
class EnvironmentPlan:
    """One AppProject, the cluster it deploys to and its Applications."""

    name: str  # the AppProject's name, and the cluster's name in Argo CD (IN_CLUSTER for Argo CD's own)
    cluster: str
    stack: Optional[str]  # the stack whose outputs register the cluster; None: Argo CD's own cluster
    helmfile_environment: str
    source_repos: tuple[str, ...]
    sync_teams: tuple[str, ...]
    automated_sync: bool
    sync_windows: tuple[SyncWindowPlan, ...]
    applications: tuple[ApplicationPlan, ...]


@dataclass(frozen=True)
class GitOpsPlan:
    """The GitOps layer: Argo CD on the global Gateway, GitHub log-in, Slack, and the environments it deploys to."""

    hostname: str
    github_organization: str
    github_client_id: str
    admin_teams: tuple[str, ...]
    slack_channel: str
    environments: tuple[EnvironmentPlan, ...]  # by name


# Linux's default ephemeral port range (net.ipv4.ip_local_port_range 32768-60999, rounded up as Sakura's
# documentation examples do): the destination ports of the replies to connections a VM opens.
EPHEMERAL_PORTS = "32768-61000"
VXLAN_PORT = 8472  # Cilium's VXLAN between the nodes
MAX_ECMP_PATHS = 256  # FRR and VyOS accept `maximum-paths` up to 256


@dataclass(frozen=True)
class FilterRule:
    """One rule of a Sakura packet filter: inbound only, stateless, first match wins."""

    protocol: Literal["tcp", "udp", "icmp", "fragment", "ip"]
    allow: bool
    description: str
    source: Optional[IPv4Network] = None  # None: any source
    source_port: Optional[str] = None
    destination_port: Optional[str] = None


@dataclass(frozen=True)
class AccessPlan:
    """Who may reach what from outside, for the packet filters, the router's firewall and the nodes' firewalls."""

    operator_networks: tuple[IPv4Network, ...]  # SSH to every VM, the Kubernetes API
    tunnel_networks: tuple[IPv4Network, ...]  # the WireGuard tunnel and the venue behind it: the Kubernetes API
    cluster_networks: tuple[IPv4Network, ...]  # the router's block and the private switch: everything
    node_addresses: tuple[IPv4Address, ...]  # every VM (VXLAN peers)
    public_tcp_ports: tuple[int, ...]  # the MetalLB global pool, open to anyone
    wireguard_port: int
    filters: tuple[tuple[str, tuple[FilterRule, ...]], ...]  # per role on the router's switch

    def filter(self, role: str) -> tuple[FilterRule, ...]:
        return dict(self.filters)[role]


def packet_filter_rules(role: str, operators, tunnels, cluster, public_tcp_ports, wireguard_port) -> tuple[FilterRule, ...]:
    """The inbound rules of the VMs of `role` on the router's switch, most specific first, ending in deny.

    Sakura's filters are stateless: the replies to connections a VM opens get their own rules
    (TCP to the ephemeral ports, DNS and NTP answers, ICMP, fragments); the nodes' own firewall then
    drops new connections to the ephemeral ports from outside the cluster."""
    rules = [FilterRule("ip", True, "this cluster", source=network) for network in cluster]
    rules += [FilterRule("tcp", True, "SSH from operators", source=network, destination_port="22") for network in operators]
    if role == "router":
        rules.append(FilterRule("udp", True, "WireGuard", destination_port=str(wireguard_port)))
        rules += [FilterRule("tcp", True, "MetalLB global pool", destination_port=str(port)) for port in public_tcp_ports]
    if role == "api-lb":
        rules += [FilterRule("tcp", True, "Kubernetes API", source=network, destination_port="6443") for network in operators + tunnels]
    rules += [
        FilterRule("tcp", True, "replies to connections the VM opened", destination_port=EPHEMERAL_PORTS),
        FilterRule("udp", True, "DNS answers", source_port="53", destination_port=EPHEMERAL_PORTS),
        FilterRule("udp", True, "NTP answers", source_port="123"),
        FilterRule("icmp", True, "ICMP (path MTU, ping)"),
        FilterRule("fragment", True, "fragments"),
        FilterRule("ip", False, "everything else"),
    ]
    return tuple(rules)


@dataclass(frozen=True)
class Plan:
    stack: str
    zone: str
    global_block: GlobalBlock
    private_network: IPv4Network
    machines: tuple[Machine, ...]
    routes_via_router: tuple[IPv4Network, ...]
    router: RouterPlan
    api: ApiEndpointPlan
    bgp: BgpPlan
    pools: tuple[Pool, ...]
    wireguard: WireGuardPlan
    kubernetes: KubernetesPlan
    access: AccessPlan
    protect_stateful: bool
    charts: ChartsPlan
    addons: Optional[AddonsPlan]  # None when layers.addons is off
    monitoring: Optional[MonitoringPlan]  # None when layers.monitoring is off
    gitops: Optional[GitOpsPlan]  # None when layers.gitops is off

    def machine(self, name: str) -> Machine:
        return next(m for m in self.machines if m.name == name)

    def machines_with_role(self, role: Role) -> tuple[Machine, ...]:
        return tuple(m for m in self.machines if m.role == role)

    def pool(self, name: str) -> Pool:
        return next(p for p in self.pools if p.name == name)


_CONFIG_KEYS = {
    "router": "router.globalHost",
    "api-lb": "apiLoadBalancer.nodes.{name}",
    "control-plane": "controlPlanes.nodes.{name}",
}


def _by_name(nodes: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(nodes.items(), key=lambda item: natural_key(item[0]))


def machine_shapes(loaded: LoadedConfig) -> tuple[MachineShape, ...]:
    """Every VM in plan order: the router, then load balancers, control planes and workers by name."""
    c = loaded.config
    node_disk = DiskSource(os_tag=catalog.OS_ARCHIVE_TAGS[c.node_os])
    nic_names = c.node_nic_names
    if c.router.flavor == "vyos":
        image = c.router.vyos_image
        router_disk = DiskSource(archive_id=image.archive_id, upload_file=image.file, upload_size_gb=image.size_gb)
        router_user, router_nics = "vyos", catalog.VYOS_NIC_NAMES
    else:
        router_disk, router_user, router_nics = node_disk, c.ssh.user, nic_names

    def shape(name: str, role: Role, size, segments, hosts, data_disk_gb=None, disk=node_disk, user=c.ssh.user,
              names=nic_names) -> MachineShape:
        return MachineShape(name, role, size.cpu, size.memory_gb, size.disk_gb, data_disk_gb, disk, user, segments, hosts,
                            tuple(names[: len(segments)]))

    shapes = [shape(ROUTER_NAME, "router", c.router.size, ("global", "private"), (c.router.global_host, c.router.private_host),
                    disk=router_disk, user=router_user, names=router_nics)]
    shapes += [shape(n, "api-lb", c.api_load_balancer.size, ("global",), (h,)) for n, h in _by_name(c.api_load_balancer.nodes)]
    shapes += [shape(n, "control-plane", c.control_planes.size, ("global",), (h,)) for n, h in _by_name(c.control_planes.nodes)]
    shapes += [shape(n, "worker", c.workers.size, ("private",), (h,), data_disk_gb=c.workers.data_disk_gb)
               for n, h in _by_name(c.workers.nodes)]
    return tuple(shapes)


def charts_plan(loaded: LoadedConfig) -> ChartsPlan:
    """Where the charts come from and their versions: the pins, or the stack's `charts.versions`."""
    c = loaded.config
    return ChartsPlan(c.charts.source, tuple((chart.name, c.charts.versions.get(chart.name, chart.version)) for chart in charts.ALL))


def gitops_plan(loaded: LoadedConfig) -> Optional[GitOpsPlan]:
    """Argo CD's settings and environments (None when layers.gitops is off). The environment whose stack is this one is
    Argo CD's own cluster; the others are registered from their stacks' outputs (components/layers/gitops.py)."""
    c = loaded.config
    if not c.layers.gitops:
        return None
    g = c.gitops

    def own(stack: str) -> bool:
        project, name = stack.split("/")[1:]
        return project == PROJECT and name == loaded.stack

    environments = tuple(EnvironmentPlan(
        name=name,
        cluster=IN_CLUSTER if own(e.stack) else name,
        stack=None if own(e.stack) else e.stack,
        helmfile_environment=e.helmfile_environment,
        source_repos=e.source_repos,
        sync_teams=e.sync_teams,
        automated_sync=e.automated_sync,
        sync_windows=tuple(SyncWindowPlan(w.kind, w.schedule, w.duration, w.time_zone, w.manual_sync) for w in e.sync_windows),
        applications=tuple(ApplicationPlan(f"{app}-{name}", a.repo_url, a.path, a.target_revision, a.namespace)
                           for app, a in sorted(e.applications.items())),
    ) for name, e in sorted(g.environments.items()))
    return GitOpsPlan(g.hostname, g.github.organization, g.github.client_id, g.github.admin_teams, g.slack_channel, environments)


def shape_plan(loaded: LoadedConfig) -> "Plan":
    """The plan on an assumed block (TEST-NET-1 of the configured size): every name and count is the real plan's, no
    address is. Layers read what resources to make from it before Sakura has assigned the block."""
    return build_plan(loaded, GlobalBlock.assumed(IPv4Network(f"192.0.2.0/{loaded.config.network.global_prefix_length}")))


def control_plane_order(loaded: LoadedConfig) -> tuple[str, ...]:
    """Control planes in join order: the bootstrap node (configured, else first by name), then the rest by name."""
    c = loaded.config
    bootstrap = c.control_planes.bootstrap_node or first_node(c.control_planes.nodes)
    return (bootstrap,) + tuple(n for n, _ in _by_name(c.control_planes.nodes) if n != bootstrap)


def build_plan(loaded: LoadedConfig, block: GlobalBlock) -> Plan:
    """Compute the whole plan. Raises PlanError if the block Sakura assigned cannot hold it."""
    c = loaded.config
    if block.network.prefixlen != c.network.global_prefix_length:
        raise PlanError(f"router block {block.network} is not the /{c.network.global_prefix_length} the config asks for")
    private = c.network.private_cidr
    router_private = IPv4Interface(f"{private.network_address + c.router.private_host}/{private.prefixlen}")

    def global_address(key: str, offset: int) -> IPv4Address:
        address = block.host(offset)
        if not block.first_usable <= address <= block.last_usable:
            raise PlanError(
                f"{PROJECT}:{key}: host {offset} is {address}, outside the usable range "
                f"{block.first_usable}-{block.last_usable} Sakura reports for {block.network}; change the host numbers"
            )
        return address

    def on_global(key: str, offset: int, interface: str) -> Nic:
        address = global_address(key, offset)
        return Nic("global", IPv4Interface(f"{address}/{block.network.prefixlen}"), block.gateway, interface)

    machines = []
    for shape in machine_shapes(loaded):
        nics = []
        for segment, host, interface in zip(shape.segments, shape.hosts, shape.interfaces):
            if segment == "global":
                nics.append(on_global(_CONFIG_KEYS[shape.role].format(name=shape.name), host, interface))
            else:
                gateway = None if shape.role == "router" else router_private.ip
                nics.append(Nic("private", IPv4Interface(f"{private.network_address + host}/{private.prefixlen}"), gateway, interface))
        machines.append(Machine(**{f.name: getattr(shape, f.name) for f in fields(MachineShape)}, nics=tuple(nics)))
    router_global = machines[0].nics[0]

    pool = c.metallb.global_pool
    first = global_address("metallb.globalPool.first", pool.first)
    last = global_address("metallb.globalPool.last", pool.last)
    pools = [Pool("global", (f"{first}-{last}",), tuple(ipaddress.summarize_address_range(first, last)))]
    if c.metallb.private_pool is not None:
        pools.append(Pool("private", (str(c.metallb.private_pool),), (c.metallb.private_pool,)))

    vip = IPv4Interface(f"{global_address('apiLoadBalancer.vipHost', c.api_load_balancer.vip_host)}/{block.network.prefixlen}")
    lb_machines = [m for m in machines if m.role == "api-lb"]
    cp_machines = [m for m in machines if m.role == "control-plane"]
    api = ApiEndpointPlan(
        vip=vip,
        port=API_PORT,
        load_balancers=tuple(LoadBalancerNode(m.name, m.address, VRRP_TOP_PRIORITY - VRRP_PRIORITY_STEP * i) for i, m in enumerate(lb_machines)),
        control_planes=tuple(ControlPlaneNode(m.name, m.address) for m in cp_machines),
        vrrp_mode=c.api_load_balancer.vrrp.mode,
        virtual_router_id=c.api_load_balancer.vrrp.virtual_router_id,
        advert_interval=c.api_load_balancer.vrrp.advert_interval_seconds,
    )

    worker_machines = [m for m in machines if m.role == "worker"]
    hold = c.router.bgp_hold_time_seconds
    bgp = BgpPlan(
        router_asn=c.router.asn,
        speaker_asn=c.metallb.asn,
        router_id=router_global.address.ip,
        router_address=router_private.ip,
        neighbors=tuple(BgpNeighbor(m.name, m.address) for m in worker_machines),
        hold_time=hold,
        keepalive=max(1, hold // 3),
        max_paths=min(MAX_ECMP_PATHS, max(16, len(worker_machines))),
    )

    wg = c.wireguard
    private_pool = (c.metallb.private_pool,) if c.metallb.private_pool is not None else ()
    peers = []
    if wg.venue is not None:
        peers.append(
            WireGuardPeer(
                name="venue",
                public_key=wg.venue.public_key,
                allowed_ips=(IPv4Network(f"{wg.venue.address}/32"),) + wg.venue.allowed_ips,
                endpoint=wg.venue.endpoint,
                persistent_keepalive=wg.persistent_keepalive_seconds if wg.venue.endpoint else None,
            )
        )
    wireguard = WireGuardPlan(
        interface=WIREGUARD_INTERFACE,
        address=wg.address,
        listen_port=wg.listen_port,
        endpoint_host=router_global.address.ip,
        routed_prefixes=(private,) + private_pool,
        peers=tuple(peers),
        persistent_keepalive=wg.persistent_keepalive_seconds,
    )

    venue_networks = tuple(p for peer in peers for p in peer.allowed_ips[1:])
    router = RouterPlan(
        name=ROUTER_NAME,
        flavor=c.router.flavor,
        global_address=router_global.address,
        private_address=router_private,
        upstream_gateway=block.gateway,
        snat_sources=(private,),
        snat_exempt_destinations=(block.network,),
    )

    k = c.kubernetes
    join_order = control_plane_order(loaded)
    kubernetes = KubernetesPlan(
        version=k.version,
        minor=".".join(k.version.split(".")[:2]),
        cluster_name=loaded.stack,
        pod_cidr=k.pod_cidr,
        service_cidr=k.service_cidr,
        control_plane_endpoint=api.endpoint,
        certificate_sans=tuple(str(a) for a in [vip.ip] + [m.address for m in lb_machines]),
        not_ready_toleration_seconds=k.not_ready_toleration_seconds,
        unreachable_toleration_seconds=k.unreachable_toleration_seconds,
        containerd_version=k.containerd_version,
        bootstrap_node=join_order[0],
        control_planes=join_order,
        workers=tuple(m.name for m in worker_machines),
    )

    operators = tuple(c.access.operator_cidrs)
    tunnels = (wg.address.network,) + venue_networks
    cluster = (block.network, private)
    access = AccessPlan(
        operator_networks=operators,
        tunnel_networks=tunnels,
        cluster_networks=cluster,
        node_addresses=tuple(m.address for m in machines),
        public_tcp_ports=tuple(c.access.public_tcp_ports),
        wireguard_port=wg.listen_port,
        filters=tuple((role, packet_filter_rules(role, operators, tunnels, cluster, c.access.public_tcp_ports, wg.listen_port))
                      for role in ("router", "api-lb", "control-plane")),
    )

    addons = None
    if c.layers.addons_on:
        a = c.addons
        addons = AddonsPlan(
            acme_email=a.acme.email,
            acme_server=a.acme.server,
            hostnames=a.gateway.hostnames,
            global_gateway=first,
            private_gateway=c.metallb.private_pool.network_address + 1 if c.metallb.private_pool is not None else None,
            osds=tuple(CephOsd(m.name, DATA_DISK_DEVICE) for m in worker_machines),
            ceph_replicas=a.ceph.replicas,
            ceph_mons=3 if len(worker_machines) >= 3 else 1,
            ceph_mgrs=min(2, len(worker_machines)),
            descheduler_schedule=a.descheduler_schedule,
            smoke_test=a.smoke_test,
        )

    monitoring = None
    if c.layers.monitoring_on:
        monitoring = _monitoring_plan(loaded, router_private.ip, c.metallb.private_pool)

    return Plan(
        stack=loaded.stack,
        gitops=gitops_plan(loaded),
        zone=c.zone,
        global_block=block,
        private_network=private,
        machines=tuple(machines),
        routes_via_router=(private,) + private_pool + (wg.address.network,) + venue_networks,
        router=router,
        api=api,
        bgp=bgp,
        pools=tuple(pools),
        wireguard=wireguard,
        kubernetes=kubernetes,
        access=access,
        protect_stateful=loaded.protect_stateful,
        charts=charts_plan(loaded),
        addons=addons,
        monitoring=monitoring,
    )


def _monitoring_plan(loaded: LoadedConfig, router: IPv4Address, private_pool: IPv4Network) -> MonitoringPlan:
    c = loaded.config
    m = c.monitoring
    g = m.grafana
    base = private_pool.network_address
    grafana = None
    if g.enabled:
        db = g.database
        github = g.github
        grafana = GrafanaPlan(
            hostname=g.hostname,
            replicas=g.replicas,
            database=(db.type, db.host, db.name, db.user) if db is not None else None,
            github_client_id=github.client_id if github is not None else None,
            github_organizations=github.allowed_organizations if github is not None else (),
            github_team_ids=github.team_ids if github is not None else (),
            plugins=g.plugins,
            zabbix_source=m.zabbix.enabled and any(p.split("@")[0] == ZABBIX_PLUGIN for p in g.plugins),
        )
    hostnames = c.addons.gateway.hostnames if c.addons is not None else ()
    return MonitoringPlan(
        cluster=loaded.stack,
        prometheus_volume_gib=m.prometheus.volume_gb,
        prometheus_retention_gib=prometheus_retention_gib(m.prometheus.volume_gb),
        prometheus_retention_days=m.prometheus.retention_days,
        slack_channel=m.slack_channel,
        send_to=m.send_to,
        receive_from=m.receive_from,
        watch=m.watch,
        probes=tuple(dict.fromkeys((*(f"https://{h}/" for h in hostnames), *m.probes))),
        router_metrics=f"{router}:{ROUTER_METRICS_PORTS[c.router.flavor]}",
        private_gateway=base + 1,
        grafana=grafana,
        loki_volume_gib=m.logs.volume_gb,
        loki_retention_days=m.logs.retention_days,
        log_alert_patterns=m.logs.alert_patterns,
        flow_collector=base + FLOW_COLLECTOR_HOST if m.flows else None,
        zabbix=base + ZABBIX_HOST if m.zabbix.enabled else None,
        zabbix_ipmi_pollers=m.zabbix.ipmi_pollers,
        zabbix_volume_gib=m.zabbix.volume_gb,
    )
