"""Typed, validated stack configuration: the only place a stack file's values enter the program.

`load_config` takes the project's raw config (what Pulumi hands the program: scalars as
strings, objects as JSON) and returns a frozen `StackConfig`, or raises `ConfigError` that
lists every problem at once. Each problem names the stack file, the key, what was given and
what was expected, and is found before any resource is created. Unknown keys are errors: a
typo must never silently become a default.

Nothing here imports Pulumi, the plan or the layers.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import difflib
import json
import re
import typing
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any, Callable, Literal, Optional

from .sakura import catalog

PROJECT = "contest-k8s"
DEFAULT_SAKURA_API_ROOT_URL = "https://secure.sakura.ad.jp/cloud/zone"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_KUBERNETES_VERSION = re.compile(r"^1\.(\d+)\.(\d+)$")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_ARCHIVE_ID = re.compile(r"^\d{12}$")
_IFNAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$")
MAX_ASN = 4294967294


@dataclass(frozen=True)
class Problem:
    key: str
    given: str
    expected: str


class ConfigError(Exception):
    """Every problem found in one stack file, each on its own line."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: {p.key}: expected {p.expected}; given {p.given}" for p in problems]
        super().__init__("invalid stack configuration\n" + "\n".join(lines))


@dataclass(frozen=True)
class Secret:
    """A config value set with `pulumi config set --secret`; its repr never shows it."""

    value: str = field(repr=False)


Check = Callable[[Any], Optional[str]]


def setting(default: Any = dataclasses.MISSING, *, check: Optional[Check] = None, secret: bool = False) -> Any:
    """A config field. `check` returns what was expected when the value is wrong, else None."""
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata={"check": check, "secret": secret})
    return field(default=default, metadata={"check": check, "secret": secret})


def _one_of(choices: tuple, what: str) -> Check:
    return lambda v: None if v in choices else f"{what}: one of {', '.join(map(str, choices))}"


def _in_range(low: int, high: int, what: str) -> Check:
    return lambda v: None if low <= v <= high else f"{what} from {low} to {high}"


def _matches(pattern: re.Pattern, what: str) -> Check:
    return lambda v: None if pattern.match(v) else what


def wireguard_key_problem(value: str) -> Optional[str]:
    """None when `value` is a WireGuard key (base64 of 32 bytes), else what was expected."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    return None if len(value) == 44 and len(raw) == 32 else "a WireGuard key: 44 characters of base64 encoding 32 bytes"


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class MachineSize:
    cpu: int = setting(check=_one_of(catalog.CPU_COUNTS, "a CPU count Sakura offers"))
    memory_gb: int = setting(check=_one_of(catalog.MEMORY_SIZES_GB, "a memory size (GB) Sakura offers"))
    disk_gb: int = setting(check=_one_of(catalog.DISK_SIZES_GB, "an SSD size (GB) Sakura offers"))


@dataclass(frozen=True)
class NetworkConfig:
    private_cidr: IPv4Network = setting()
    global_prefix_length: int = setting(27, check=_one_of(catalog.ROUTER_PREFIX_LENGTHS, "a router+switch prefix length"))
    bandwidth_mbps: int = setting(100, check=_one_of(catalog.ROUTER_BANDWIDTHS_MBPS, "a router+switch bandwidth"))


@dataclass(frozen=True)
class VyosImage:
    """Where the VyOS disk comes from: an archive already in the zone, or an image file to upload."""

    archive_id: Optional[str] = setting(None, check=_matches(_ARCHIVE_ID, "a 12-digit Sakura archive ID"))
    file: Optional[str] = setting(None)
    size_gb: int = setting(20, check=_one_of(catalog.ARCHIVE_SIZES_GB, "an archive size (GB) Sakura offers"))


@dataclass(frozen=True)
class RouterConfig:
    global_host: int = setting()
    flavor: Literal["vyos", "frr"] = setting("vyos")
    private_host: int = setting(1)
    asn: int = setting(65020, check=_in_range(1, MAX_ASN, "an AS number"))
    size: MachineSize = setting(MachineSize(4, 8, 40))
    vyos_image: Optional[VyosImage] = setting(None)
    bgp_hold_time_seconds: int = setting(9, check=_in_range(3, 65535, "a BGP hold time (s)"))


@dataclass(frozen=True)
class VrrpConfig:
    mode: Literal["unicast", "multicast"] = setting("unicast")
    virtual_router_id: int = setting(51, check=_in_range(1, 255, "a VRRP virtual router ID"))
    advert_interval_seconds: int = setting(1, check=_in_range(1, 255, "a VRRP advertisement interval (s)"))


@dataclass(frozen=True)
class ApiLoadBalancerConfig:
    vip_host: int = setting()
    nodes: dict[str, int] = setting()
    size: MachineSize = setting(MachineSize(4, 8, 40))
    vrrp: VrrpConfig = setting(VrrpConfig())


@dataclass(frozen=True)
class ControlPlaneConfig:
    nodes: dict[str, int] = setting()
    size: MachineSize = setting(MachineSize(4, 8, 100))
    bootstrap_node: Optional[str] = setting(None)


@dataclass(frozen=True)
class WorkerConfig:
    nodes: dict[str, int] = setting()
    size: MachineSize = setting(MachineSize(8, 32, 250))
    data_disk_gb: Optional[int] = setting(None, check=_one_of(catalog.DISK_SIZES_GB, "an SSD size (GB) Sakura offers"))


@dataclass(frozen=True)
class HostRange:
    first: int = setting()
    last: int = setting()


@dataclass(frozen=True)
class MetallbConfig:
    global_pool: HostRange = setting()
    asn: int = setting(65021, check=_in_range(1, MAX_ASN, "an AS number"))
    private_pool: Optional[IPv4Network] = setting(None)


@dataclass(frozen=True)
class KubernetesConfig:
    version: str = setting("1.36.3", check=_matches(_KUBERNETES_VERSION, "a Kubernetes version 1.x.y"))
    pod_cidr: IPv4Network = setting(IPv4Network("10.244.0.0/16"))
    service_cidr: IPv4Network = setting(IPv4Network("10.96.0.0/12"))
    not_ready_toleration_seconds: int = setting(30, check=_in_range(0, 86400, "seconds"))
    unreachable_toleration_seconds: int = setting(30, check=_in_range(0, 86400, "seconds"))
    cilium_version: str = setting("1.20.0", check=_matches(_SEMVER, "a chart version x.y.z"))


@dataclass(frozen=True)
class VenuePeerConfig:
    public_key: str = setting(check=wireguard_key_problem)
    address: IPv4Address = setting()
    allowed_ips: tuple[IPv4Network, ...] = setting(())
    endpoint: Optional[str] = setting(None, check=_matches(re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$"), "host:port"))


@dataclass(frozen=True)
class WireGuardConfig:
    address: IPv4Interface = setting()
    listen_port: int = setting(51820, check=_in_range(1, 65535, "a UDP port"))
    persistent_keepalive_seconds: int = setting(25, check=_in_range(1, 65535, "seconds"))
    venue: Optional[VenuePeerConfig] = setting(None)
    cluster_peers: dict[str, str] = setting({})


@dataclass(frozen=True)
class LayersConfig:
    edge: bool = setting(True)
    api_load_balancer: bool = setting(True)
    kubernetes: bool = setting(True)


@dataclass(frozen=True)
class SshConfig:
    user: str = setting("ubuntu", check=_matches(re.compile(r"^[a-z_][a-z0-9_-]*$"), "a Unix user name"))
    authorized_keys: tuple[str, ...] = setting(())


@dataclass(frozen=True)
class StackConfig:
    """The whole stack: one field per top-level key `contest-k8s:<camelCaseName>`."""

    zone: str = setting(check=_one_of(tuple(catalog.ZONES), "a Sakura zone"))
    network: NetworkConfig = setting()
    router: RouterConfig = setting()
    api_load_balancer: ApiLoadBalancerConfig = setting()
    control_planes: ControlPlaneConfig = setting()
    workers: WorkerConfig = setting()
    metallb: MetallbConfig = setting()
    wireguard: WireGuardConfig = setting()
    kubernetes: KubernetesConfig = setting(KubernetesConfig())
    layers: LayersConfig = setting(LayersConfig())
    node_os: Literal["ubuntu2404", "ubuntu2204"] = setting("ubuntu2404")
    node_nic_names: tuple[str, ...] = setting(catalog.DEFAULT_NODE_NIC_NAMES)
    ssh: SshConfig = setting(SshConfig())
    protect: Optional[bool] = setting(None)
    sakura_api_root_url: str = setting(DEFAULT_SAKURA_API_ROOT_URL)
    sakura_access_token: Optional[Secret] = setting(None, secret=True)
    sakura_access_token_secret: Optional[Secret] = setting(None, secret=True)


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with the stack it belongs to and the file it came from."""

    stack: str
    source: str
    config: StackConfig

    @property
    def protect_stateful(self) -> bool:
        """Disks and the router block are `protect`ed in prd unless the stack file says otherwise."""
        return self.config.protect if self.config.protect is not None else self.stack == "prd"


# --------------------------------------------------------------------------- reading


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


class Said(str):
    """A description of what was given, shown as is (not quoted like a given string)."""


def _describe(value: Any) -> str:
    if isinstance(value, Secret):
        return "[secret]"
    if isinstance(value, Said):
        return str(value)
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_TYPE_NAMES = {int: "an integer", bool: "true or false", str: "a string"}


class _Reader:
    """Walks raw values against the dataclass model, collecting problems instead of stopping."""

    def __init__(self, secret_keys: frozenset[str]):
        self.secret_keys = secret_keys
        self.problems: list[Problem] = []

    def fail(self, key: str, given: Any, expected: str) -> None:
        self.problems.append(Problem(key, _describe(given), expected))

    def read(self, tp: Any, value: Any, key: str) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Union:
            inner = next(a for a in args if a is not type(None))
            return None if value is None else self.read(inner, value, key)
        if origin is Literal:
            if value in args:
                return value
            return self.fail(key, value, "one of " + ", ".join(map(str, args)))
        if origin is tuple:
            if not isinstance(value, list):
                return self.fail(key, value, "a list")
            return tuple(self.read(args[0], item, f"{key}[{i}]") for i, item in enumerate(value))
        if origin is dict:
            if not isinstance(value, dict):
                return self.fail(key, value, "a mapping")
            return {name: self.read(args[1], item, f"{key}.{name}") for name, item in value.items()}
        if dataclasses.is_dataclass(tp) and tp is not Secret:
            return self.read_object(tp, value, key)
        return self.read_scalar(tp, value, key)

    def read_scalar(self, tp: Any, value: Any, key: str) -> Any:
        if tp is Secret:
            if not isinstance(value, str):
                return self.fail(key, value, "a string")
            if key not in self.secret_keys:
                return self.fail(key, Said("a plain-text value"), "a secret: set it with `pulumi config set --secret`")
            return Secret(value)
        if tp in (IPv4Network, IPv4Address, IPv4Interface):
            try:
                return tp(value, strict=True) if tp is IPv4Network else tp(value)
            except (ValueError, TypeError):
                example = {IPv4Network: "10.1.0.0/24 (no host bits set)", IPv4Address: "10.1.0.1", IPv4Interface: "10.255.0.11/24"}[tp]
                return self.fail(key, value, f"an IPv4 {tp.__name__[4:].lower()} like {example}")
        if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
            return self.fail(key, value, _TYPE_NAMES[int])
        if not isinstance(value, tp):
            return self.fail(key, value, _TYPE_NAMES[tp])
        return value

    def read_object(self, cls: type, value: Any, key: str) -> Any:
        if not isinstance(value, dict):
            return self.fail(key, value, "a mapping")
        hints = typing.get_type_hints(cls)
        fields = {camel(f.name): f for f in dataclasses.fields(cls)}
        for unknown in sorted(set(value) - set(fields)):
            close = difflib.get_close_matches(unknown, fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.fail(f"{key}.{unknown}", value[unknown], f"a known key{hint}: {', '.join(sorted(fields))}")
        return cls(**{f.name: self.read_field(f, hints[f.name], value, name, f"{key}.{name}") for name, f in fields.items()})

    def read_field(self, f: dataclasses.Field, tp: Any, raw: dict, name: str, key: str) -> Any:
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.fail(key, Said("nothing"), "a value (this key is required)")
                return None
            return f.default if f.default is not dataclasses.MISSING else f.default_factory()
        value = self.read(tp, raw[name], key)
        check = f.metadata.get("check")
        if value is not None and check is not None and (expected := check(value)) is not None:
            self.fail(key, raw[name], expected)
        return value


def _decode_top_level(tp: Any, text: Any) -> Any:
    """Pulumi passes scalars as strings and objects as JSON; decode what is not meant to stay a string."""
    if typing.get_origin(tp) is typing.Union:
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if not isinstance(text, str) or tp in (str, Secret) or typing.get_origin(tp) is Literal:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def load_config(raw: dict[str, Any], *, stack: str, source: str, secret_keys: frozenset[str] = frozenset()) -> LoadedConfig:
    """Validate the project's config keys (`contest-k8s:*`, others ignored) into a LoadedConfig."""
    reader = _Reader(secret_keys)
    prefix = PROJECT + ":"
    hints = typing.get_type_hints(StackConfig)
    fields = {camel(f.name): f for f in dataclasses.fields(StackConfig)}
    ours = {k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix)}
    for unknown in sorted(set(ours) - set(fields)):
        close = difflib.get_close_matches(unknown, fields, n=1)
        hint = f" (did you mean {prefix + close[0]!r}?)" if close else ""
        reader.fail(prefix + unknown, Said("a value"), f"a known key{hint}: {', '.join(prefix + k for k in sorted(fields))}")
    decoded = {name: _decode_top_level(hints[f.name], ours[name]) for name, f in fields.items() if name in ours}
    values = {f.name: reader.read_field(f, hints[f.name], decoded, name, prefix + name) for name, f in fields.items()}
    if reader.problems:
        raise ConfigError(source, reader.problems)
    config = StackConfig(**values)
    problems = validate(config)
    if problems:
        raise ConfigError(source, problems)
    return LoadedConfig(stack=stack, source=source, config=config)


# --------------------------------------------------------------------------- semantic checks


def natural_key(name: str) -> tuple:
    """Sort key that puts worker-2 before worker-10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def first_node(nodes: dict[str, int]) -> str:
    return min(nodes, key=natural_key)


ROUTER_NAME = "router"


def validate(c: StackConfig) -> list[Problem]:
    """Cross-key rules: names, counts, address layout, ASNs, overlapping networks, layer dependencies."""
    p: list[Problem] = []
    k = PROJECT + ":"

    def fail(key: str, given: Any, expected: str) -> None:
        p.append(Problem(k + key, _describe(given), expected))

    roles = {
        "apiLoadBalancer.nodes": c.api_load_balancer.nodes,
        "controlPlanes.nodes": c.control_planes.nodes,
        "workers.nodes": c.workers.nodes,
    }
    seen: dict[str, str] = {ROUTER_NAME: "the router"}
    for key, nodes in roles.items():
        for name in nodes:
            if not _DNS_LABEL.match(name):
                fail(f"{key}.{name}", name, "a node name that is a DNS label (lower-case letters, digits, '-')")
            elif name in seen:
                fail(f"{key}.{name}", name, f"a unique node name; {name!r} is already {seen[name]}")
            else:
                seen[name] = f"used in {key}"

    cp_count = len(c.control_planes.nodes)
    if cp_count == 0 or cp_count % 2 == 0:
        fail("controlPlanes.nodes", Said(f"{cp_count} control planes"), "an odd number of control planes (1, 3, 5...) so etcd keeps quorum")
    if c.control_planes.bootstrap_node is not None and c.control_planes.bootstrap_node not in c.control_planes.nodes:
        fail("controlPlanes.bootstrapNode", c.control_planes.bootstrap_node, "the name of one of controlPlanes.nodes")
    if len(c.api_load_balancer.nodes) < 2:
        fail("apiLoadBalancer.nodes", Said(f"{len(c.api_load_balancer.nodes)} nodes"), "at least 2 load balancer nodes (active/standby)")
    if not c.workers.nodes:
        fail("workers.nodes", Said("no workers"), "at least one worker (MetalLB speakers run there)")

    _check_global_block(c, fail)
    _check_private_network(c, fail)
    _check_networks_disjoint(c, fail)

    if c.router.asn == c.metallb.asn:
        fail("metallb.asn", c.metallb.asn, f"an AS number different from router.asn ({c.router.asn}): the sessions are eBGP")
    if c.router.flavor == "vyos" and c.router.vyos_image is None:
        fail("router.vyosImage", Said("nothing"), "archiveId or file: Sakura has no public VyOS archive (or use flavor 'frr')")
    image = c.router.vyos_image
    if image is not None and (image.archive_id is None) == (image.file is None):
        fail("router.vyosImage", Said("both or neither of archiveId and file"), "exactly one of archiveId and file")

    wg = c.wireguard
    if wg.address.ip in (wg.address.network.network_address, wg.address.network.broadcast_address):
        fail("wireguard.address", str(wg.address), "a host address inside its network, like 10.255.0.11/24")
    if wg.venue is not None:
        if wg.venue.address not in wg.address.network or wg.venue.address == wg.address.ip:
            fail("wireguard.venue.address", str(wg.venue.address), f"another host of the tunnel network {wg.address.network}")
    for name in wg.cluster_peers:
        if not _DNS_LABEL.match(name):
            fail(f"wireguard.clusterPeers.{name}", name, "a peer name that is a DNS label")
    for name, ref in wg.cluster_peers.items():
        if len(ref.split("/")) != 3:
            fail(f"wireguard.clusterPeers.{name}", ref, "a fully qualified stack name organization/project/stack")

    if len(c.node_nic_names) != 2 or any(not _IFNAME.match(n) for n in c.node_nic_names) or len(set(c.node_nic_names)) != 2:
        fail("nodeNicNames", list(c.node_nic_names), "two distinct interface names (first and second NIC), like [ens3, ens4]")

    layers = c.layers
    if c.zone in catalog.SANDBOX_ZONES and (layers.edge or layers.api_load_balancer or layers.kubernetes):
        fail("layers", Said("layers that log in to the VMs"), f"edge, apiLoadBalancer and kubernetes all false in zone {c.zone} "
             "(the sandbox's VMs never boot)")
    if layers.kubernetes and not (layers.edge and layers.api_load_balancer):
        fail("layers.kubernetes", True, "false unless layers.edge and layers.apiLoadBalancer are true (nodes need the router and the API endpoint)")
    if not c.sakura_api_root_url.startswith(("https://", "http://127.")):
        fail("sakuraApiRootUrl", c.sakura_api_root_url, "an https:// URL (plain http only for a fake API on 127.0.0.0/8)")
    return p


def _check_global_block(c: StackConfig, fail: Callable[[str, Any, str], None]) -> None:
    """Hosts are offsets inside the router's block; the block itself is assigned by Sakura."""
    prefix = c.network.global_prefix_length
    low, high = catalog.FIRST_USABLE_OFFSET, catalog.last_usable_offset(prefix)
    usable = f"a host number from {low} to {high} (usable part of a /{prefix} block)"
    pool = c.metallb.global_pool
    needed = len(c.api_load_balancer.nodes) + len(c.control_planes.nodes) + 2 + max(0, pool.last - pool.first + 1)
    if needed > high - low + 1:
        fail("network.globalPrefixLength", prefix, f"a block with room for {needed} addresses: load balancers, VIP, "
             f"control planes, router and the MetalLB pool (a /{prefix} has {high - low + 1} usable)")
    taken: dict[int, str] = {}

    def place(key: str, host: int) -> None:
        if not low <= host <= high:
            fail(key, host, usable)
        elif host in taken:
            fail(key, host, f"a host number not already given to {taken[host]}")
        else:
            taken[host] = key

    for name, host in sorted(c.api_load_balancer.nodes.items()):
        place(f"apiLoadBalancer.nodes.{name}", host)
    place("apiLoadBalancer.vipHost", c.api_load_balancer.vip_host)
    for name, host in sorted(c.control_planes.nodes.items()):
        place(f"controlPlanes.nodes.{name}", host)
    place("router.globalHost", c.router.global_host)

    if pool.first > pool.last:
        fail("metallb.globalPool", Said(f"{pool.first}-{pool.last}"), "first <= last")
    elif not (low <= pool.first and pool.last <= high):
        fail("metallb.globalPool", Said(f"{pool.first}-{pool.last}"), f"a range inside the usable hosts {low}-{high} of the /{prefix} block")
    else:
        clash = sorted(h for h in taken if pool.first <= h <= pool.last)
        if clash:
            fail("metallb.globalPool", Said(f"{pool.first}-{pool.last}"), f"a range that leaves out hosts given to VMs ({', '.join(taken[h] for h in clash)})")


def _check_private_network(c: StackConfig, fail: Callable[[str, Any, str], None]) -> None:
    net = c.network.private_cidr
    high = net.num_addresses - 2
    taken: dict[int, str] = {}
    for key, host in [("router.privateHost", c.router.private_host)] + [
        (f"workers.nodes.{n}", h) for n, h in sorted(c.workers.nodes.items())
    ]:
        if not 1 <= host <= high:
            fail(key, host, f"a host number from 1 to {high} inside network.privateCidr {net}")
        elif host in taken:
            fail(key, host, f"a host number not already given to {taken[host]}")
        else:
            taken[host] = key


def _check_networks_disjoint(c: StackConfig, fail: Callable[[str, Any, str], None]) -> None:
    named = [
        ("network.privateCidr", c.network.private_cidr),
        ("metallb.privatePool", c.metallb.private_pool),
        ("kubernetes.podCidr", c.kubernetes.pod_cidr),
        ("kubernetes.serviceCidr", c.kubernetes.service_cidr),
        ("wireguard.address", c.wireguard.address.network),
    ]
    if c.wireguard.venue is not None:
        named += [(f"wireguard.venue.allowedIps[{i}]", n) for i, n in enumerate(c.wireguard.venue.allowed_ips)]
    named = [(k, n) for k, n in named if n is not None]
    for i, (key, net) in enumerate(named):
        for other_key, other in named[:i]:
            if net.overlaps(other):
                fail(key, str(net), f"a network that does not overlap {other_key} ({other})")
                break
