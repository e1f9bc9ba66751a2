"""Typed, validated stack configuration: the only place a stack file's values enter the program.

`load_config` takes the project's raw config (what Pulumi hands the program: scalars as
strings, objects as JSON) and returns a frozen `StackConfig`, or raises `ConfigError` that
lists every problem at once. Each problem names the stack file, the key, what was given and
what was expected, and is found before any resource is created. Unknown keys are errors: a
typo must never silently become a default.

Types are checked strictly (an integer is never an address, `true` never a network, a pattern
must match the whole ASCII string). A value that fails its type check becomes `INVALID`, and
the rules between keys (`RULES`, run by `validate`) skip only what needs that value, so type
errors and cross-key problems are reported in one run. A value under a key whose name says
secret, token, password or key is never printed.

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
from urllib.parse import urlsplit

from . import charts
from .app_project import normalize_git_url, source_permitted
from .sakura import catalog

PROJECT = "contest-k8s"
DEFAULT_SAKURA_API_ROOT_URL = "https://secure.sakura.ad.jp/cloud/zone"

# Every pattern is matched with fullmatch on ASCII only: no trailing newline, no non-ASCII digit.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
_KUBERNETES_VERSION = re.compile(r"1\.(\d+)\.(\d+)", re.ASCII)
_CONTAINERD_IO_VERSION = re.compile(r"2\.\d+\.\d+-\d+", re.ASCII)
_ARCHIVE_ID = re.compile(r"\d{12}", re.ASCII)
_IFNAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_.-]{0,14}", re.ASCII)
_UNIX_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}", re.ASCII)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+",
                    re.ASCII)
# A DNS name a public ACME CA issues for over HTTP-01: lower case, two labels at least, no wildcard, at most 253 characters.
_DNS_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
# A cron schedule of five fields (minute hour day month weekday), as a Kubernetes CronJob takes it.
_CRON = re.compile(r"[0-9*/,-]+( [0-9*/,-]+){4}", re.ASCII)
# A Go duration of hours and minutes, as Argo CD's sync windows take it (1h, 30m, 10h30m).
_DURATION = re.compile(r"(?=\d)(\d+h)?(\d+m)?", re.ASCII)
# An IANA time zone name (Asia/Tokyo, UTC).
_TIME_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}", re.ASCII)
# A GitHub organization login, and a team's slug (lower case, as Dex reports it in the `org:team` group).
_GITHUB_ORGANIZATION = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?", re.ASCII)
_GITHUB_TEAM = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}", re.ASCII)
# A GitHub OAuth app's client ID (20 hex characters, or Ov23li... for newer apps).
_OAUTH_CLIENT_ID = re.compile(r"[A-Za-z0-9.]{16,64}", re.ASCII)
# A Slack channel name (lower case, no #).
_SLACK_CHANNEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,79}", re.ASCII)
# A git repository URL Argo CD clones: https://host/path or user@host:path.
_REPO_URL = re.compile(r"(https://[A-Za-z0-9.-]+(:\d{1,5})?/[^\s]+|[a-z0-9_-]+@[A-Za-z0-9.-]+:[^\s]+)", re.ASCII)
# One part of a fully qualified stack name organization/project/stack.
STACK_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*", re.ASCII)
_IPV4 = r"\d{1,3}(\.\d{1,3}){3}"
_ADDRESS_FORMS = {
    IPv4Network: (re.compile(_IPV4 + r"/\d{1,2}", re.ASCII), "10.1.0.0/24 (no host bits set)"),
    IPv4Address: (re.compile(_IPV4, re.ASCII), "10.1.0.1"),
    IPv4Interface: (re.compile(_IPV4 + r"/\d{1,2}", re.ASCII), "10.255.0.11/24"),
}
# A key whose name (any part of its path) contains one of these words never has its value printed.
_SECRET_NAME = re.compile(r"secret|token|password|passphrase|key", re.IGNORECASE)
MAX_ASN = 4294967294
# Values decoded from the engine's JSON deeper than this are refused before anything walks them.
MAX_VALUE_DEPTH = 16

# AS numbers that must not appear in a BGP session (IANA "Special-Purpose AS Numbers" registry):
# 0 (RFC 7607), AS_TRANS 23456 (RFC 6793), documentation 64496-64511 and 65536-65551 (RFC 5398),
# last 16-bit 65535 (RFC 7300), IANA-reserved 65552-131071, last 32-bit 4294967295 (RFC 7300).
# The private ranges 64512-65534 and 4200000000-4294967294 are fine.
RESERVED_ASNS = ((0, 0), (23456, 23456), (64496, 64511), (65535, 65535), (65536, 65551), (65552, 131071),
                 (4294967295, 4294967295))

# Special-purpose IPv4 ranges (RFC 6890) that can never be a cluster network.
SPECIAL_RANGES = (
    (IPv4Network("0.0.0.0/8"), "'this network' (RFC 791)"),
    (IPv4Network("127.0.0.0/8"), "loopback"),
    (IPv4Network("169.254.0.0/16"), "link-local"),
    (IPv4Network("224.0.0.0/4"), "multicast"),
    (IPv4Network("240.0.0.0/4"), "reserved (class E, with the broadcast address 255.255.255.255)"),
)

# kubeadm's limits on ClusterConfiguration.networking (cmd/kubeadm/app/constants/constants.go and
# cmd/kubeadm/app/apis/kubeadm/validation/validation.go: ValidateNetworking, ValidateServiceSubnetSize,
# ValidatePodSubnetNodeMask, getClusterNodeMask):
# - the service subnet has at most MaximumBitsForServiceSubnet = 20 host bits (an IPv4 /12 at most;
#   kube-apiserver refuses the same --service-cluster-ip-range: validateMaxCIDRRange, maxCIDRBits = 20)
#   and at least MinimumAddressesInServiceSubnet = 10 addresses (the DNS service is the tenth), so /28 at most;
# - kube-controller-manager gives each node a /24 of the pod subnet (--node-cidr-mask-size-ipv4 default,
#   which the plan does not change; Cilium runs in `ipam: kubernetes` mode and uses those), the pod subnet
#   must be at least that /24 and at most PodSubnetNodeMaskMaxDiff = 16 bits larger (a /8).
NODE_CIDR_MASK_SIZE = 24
POD_SUBNET_NODE_MASK_MAX_DIFF = 16
SERVICE_SUBNET_MAX_HOST_BITS = 20
SERVICE_SUBNET_MIN_ADDRESSES = 10

# Keepalived priorities of the load balancers: the first gets VRRP_TOP_PRIORITY, each next one
# VRRP_PRIORITY_STEP less (plan.py), and a VRRP priority is 1-255, so this many fit.
VRRP_TOP_PRIORITY = 150
VRRP_PRIORITY_STEP = 10
MAX_LOAD_BALANCERS = (VRRP_TOP_PRIORITY - 1) // VRRP_PRIORITY_STEP + 1

# SSH public key types OpenSSH accepts in authorized_keys (ssh-dss is disabled since OpenSSH 7.0).
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                 "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")

# Config namespaces other than ours that a stack file of this project may carry (Pulumi's own and the
# providers it uses). Any other namespace is left alone unless it looks like a misspelling of ours.
KNOWN_NAMESPACES = frozenset({"pulumi", "kubernetes", "random", "tls", "command", "sakura", "sakuracloud"})


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


class _Invalid:
    """A value that failed its type check (the problem is already reported).

    Reading any attribute of it gives INVALID again, so a rule names what it needs
    (`c.router.asn`) and skips itself with `_known(...)` when one of those values is missing.
    """

    def __getattr__(self, name: str) -> "_Invalid":
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


def _known(*values: Any) -> bool:
    """True when none of `values` failed its type check, nor anything inside them (the items of a list or
    mapping, the fields of a section): `_known(c.wireguard.venue)` means every venue key can be used."""
    for value in values:
        if value is INVALID:
            return False
        if isinstance(value, dict) and not _known(*value.values()):
            return False
        if isinstance(value, tuple) and not _known(*value):
            return False
        if dataclasses.is_dataclass(value) and not isinstance(value, type) and \
                not _known(*(getattr(value, f.name) for f in dataclasses.fields(value))):
            return False
    return True


Check = Callable[[Any], Optional[str]]


def setting(default: Any = dataclasses.MISSING, *, check: Optional[Check] = None, each: Optional[Check] = None,
            secret: bool = False) -> Any:
    """A config field. `check` (on the value) and `each` (on every item of a list) return what was
    expected when the value is wrong, else None."""
    metadata = {"check": check, "each": each, "secret": secret}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def _one_of(choices: tuple, what: str) -> Check:
    return lambda v: None if v in choices else f"{what}: one of {', '.join(map(str, choices))}"


def _in_range(low: int, high: int, what: str) -> Check:
    return lambda v: None if low <= v <= high else f"{what} from {low} to {high}"


def _matches(pattern: re.Pattern, what: str) -> Check:
    return lambda v: None if pattern.fullmatch(v) else what


def _asn(v: int) -> Optional[str]:
    expected = (f"an AS number from 1 to {MAX_ASN} that is not reserved (23456, 64496-64511, 65535, 65536-131071; "
                "private 64512-65534 and 4200000000-4294967294 are fine)")
    if not 1 <= v <= MAX_ASN or any(low <= v <= high for low, high in RESERVED_ASNS):
        return expected
    return None


def _endpoint(v: str) -> Optional[str]:
    expected = "host:port, a DNS name or IPv4 address and a UDP port from 1 to 65535"
    host, _, port = v.rpartition(":")
    if not (_HOST_NAME.fullmatch(host) and re.fullmatch(r"\d{1,5}", port, re.ASCII) and 1 <= int(port) <= 65535):
        return expected
    return None


def wireguard_key_problem(value: str) -> Optional[str]:
    """None when `value` is a WireGuard key (base64 of 32 bytes), else what was expected."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    return None if len(value) == 44 and len(raw) == 32 else "a WireGuard key: 44 characters of base64 encoding 32 bytes"


def ssh_public_key_problem(value: str) -> Optional[str]:
    """None when `value` is one OpenSSH public key line `TYPE BASE64 [comment]`, else what was expected.

    The base64 blob must decode and start with the same key type (the SSH wire format: a
    length-prefixed type name, then the key's own fields)."""
    expected = f"an OpenSSH public key on one line, TYPE BASE64 [comment], with TYPE one of {', '.join(SSH_KEY_TYPES)}"
    if any(c in value for c in "\r\n\0") or not value.isascii():
        return expected
    parts = value.split(None, 2)
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
        return expected
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return expected + " (the key data is not base64)"
    size = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4:4 + size] != parts[0].encode() or len(blob) <= 4 + size + 4:
        return expected + " (the key data does not hold a key of that type)"
    return None


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
    flavor: Literal["vyos", "frr"] = setting("frr")
    private_host: int = setting(1)
    asn: int = setting(65020, check=_asn)
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
    # How many workers a size change takes down at once (drained, resized, Ready again before the next batch).
    resize_batch_size: int = setting(1, check=_in_range(1, 1000, "a number of workers resized at once"))


@dataclass(frozen=True)
class HostRange:
    first: int = setting()
    last: int = setting()


@dataclass(frozen=True)
class MetallbConfig:
    global_pool: HostRange = setting()
    asn: int = setting(65021, check=_asn)
    private_pool: Optional[IPv4Network] = setting(None)


@dataclass(frozen=True)
class KubernetesConfig:
    version: str = setting("1.36.3", check=_matches(_KUBERNETES_VERSION, "a Kubernetes version 1.x.y"))
    pod_cidr: IPv4Network = setting(IPv4Network("10.244.0.0/16"))
    service_cidr: IPv4Network = setting(IPv4Network("10.96.0.0/12"))
    not_ready_toleration_seconds: int = setting(30, check=_in_range(0, 86400, "seconds"))
    unreachable_toleration_seconds: int = setting(30, check=_in_range(0, 86400, "seconds"))
    # containerd.io from Docker's apt repository (render/containerd.py): the version without the distribution suffix.
    containerd_version: str = setting("2.2.1-1", check=_matches(_CONTAINERD_IO_VERSION, "a containerd.io 2.x package version x.y.z-n"))
    # false exactly with externalKubeconfig: an API server without nodes (the tests' control plane), where no pod runs
    await_readiness: bool = setting(True)


@dataclass(frozen=True)
class VenuePeerConfig:
    public_key: str = setting(check=wireguard_key_problem)
    address: IPv4Address = setting()
    allowed_ips: tuple[IPv4Network, ...] = setting(())
    endpoint: Optional[str] = setting(None, check=_endpoint)


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
    # None: on whenever layers.kubernetes is (see `addons_on`).
    addons: Optional[bool] = setting(None)
    # None: on whenever the add-ons are (see `monitoring_on`).
    monitoring: Optional[bool] = setting(None)
    # Argo CD runs in this cluster and deploys to the environments of the `gitops` section (wsp).
    gitops: bool = setting(False)

    @property
    def addons_on(self) -> bool:
        return self.addons if self.addons is not None else self.kubernetes is True

    @property
    def monitoring_on(self) -> bool:
        return self.monitoring if self.monitoring is not None else self.addons_on is True


@dataclass(frozen=True)
class SshConfig:
    user: str = setting("ubuntu", check=_matches(_UNIX_USER, "a Unix user name"))
    authorized_keys: tuple[str, ...] = setting((), each=ssh_public_key_problem)


MAX_FILTER_RULES = 30  # Sakura's limit per packet filter (plan.packet_filter_rules makes them)


def _port(v: int) -> Optional[str]:
    return None if 1 <= v <= 65535 else "a TCP port from 1 to 65535"


@dataclass(frozen=True)
class AccessConfig:
    """Who may reach what from outside the cluster (packet filters, the router's and the nodes' firewalls)."""

    operator_cidrs: tuple[IPv4Network, ...] = setting()  # SSH to every VM and the Kubernetes API on the VIP
    public_tcp_ports: tuple[int, ...] = setting((80, 443), each=_port)  # the MetalLB global pool, open to anyone


def _chart_source(v: str) -> Optional[str]:
    if not v or "://" in v or not v.isprintable() or not v.isascii():
        return "a local directory of unpacked chart folders named <chart>-<version> (absolute, or relative to the project directory), not a URL"
    return None


@dataclass(frozen=True)
class ChartsConfig:
    """Where the Helm charts come from (components/charts.py pins each one)."""

    source: Optional[str] = setting(None, check=_chart_source)  # None: each chart's Helm repository
    versions: dict[str, str] = setting({})  # a chart's name -> the version this stack installs instead of the pin


@dataclass(frozen=True)
class AcmeConfig:
    email: str = setting(check=_matches(_EMAIL, "an e-mail address like ops@example.org"))
    server: Literal["staging", "production"] = setting()  # which Let's Encrypt issues the Gateway's certificate


@dataclass(frozen=True)
class GatewayAddonConfig:
    # DNS names of the global Gateway's HTTPS listener, all on one certificate (they must resolve to its address).
    hostnames: tuple[str, ...] = setting(each=_matches(_DNS_NAME, "a DNS name like score.example.org (lower case, "
                                                                  "no wildcard: HTTP-01 cannot prove one)"))


@dataclass(frozen=True)
class CephConfig:
    replicas: int = setting(3, check=_in_range(1, 7, "a replica count"))  # of every RBD and CephFS pool


@dataclass(frozen=True)
class AddonsConfig:
    """The add-ons layer (components/layers/addons.py)."""

    acme: AcmeConfig = setting()
    gateway: GatewayAddonConfig = setting()
    ceph: CephConfig = setting(CephConfig())
    descheduler_schedule: str = setting("*/3 * * * *", check=_matches(_CRON, "a cron schedule of five fields, like */3 * * * *"))
    smoke_test: bool = setting(False)


# -- the monitoring layer (components/layers/monitoring.py)

# Prometheus keeps this share of its volume for the WAL, the head block and compaction: retention by size is the rest
# (plan.prometheus_retention_gib), so the volume never fills with data Prometheus means to keep.
PROMETHEUS_HEADROOM_PERCENT = 20
PROMETHEUS_HEADROOM_MIN_GIB = 4
MIN_PROMETHEUS_VOLUME_GB = 10  # a retention of at least 6 GiB after the headroom
_GRAFANA_PLUGIN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)+(@\d+\.\d+\.\d+)?", re.ASCII)
_DATABASE_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?:\d{1,5}", re.ASCII)
_PROBE_URL = re.compile(r"https?://[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?(:\d{1,5})?(/[A-Za-z0-9._~/%-]*)?", re.ASCII)


def _log_pattern(v: str) -> Optional[str]:
    """A pattern Loki's ruler puts between backticks in `|~ `PATTERN``: a regular expression without a backtick."""
    expected = "a regular expression without backticks or line breaks, like ERROR or (?i)panic"
    if not v or "`" in v or any(c in v for c in "\r\n") or not v.isprintable():
        return expected
    try:
        re.compile(v)
    except re.error as e:
        return f"{expected} ({e})"
    return None


# --------------------------------------------------------------------------- the GitOps layer


def _repo_url(v: str) -> Optional[str]:
    if not _REPO_URL.fullmatch(v) or not normalize_git_url(v):
        return "a git repository URL like https://github.com/example-org/score-server-deploy.git or git@github.com:org/repo.git"
    return None


def _source_repo(v: str) -> Optional[str]:
    """A `sourceRepos` entry: a repository URL, or a glob of them (`https://github.com/example-org/*`), `!` to deny."""
    if not v or v.strip() != v or not v.isascii() or not normalize_git_url(v.removeprefix("!")):
        return "a repository URL or a glob of them like https://github.com/example-org/* (! in front denies)"
    return None


@dataclass(frozen=True)
class PrometheusConfig:
    # The Ceph (RBD) volume of each Prometheus; retention by size is derived from it, never written twice.
    volume_gb: int = setting(50, check=_in_range(MIN_PROMETHEUS_VOLUME_GB, 65536, "a volume size (GiB)"))
    retention_days: int = setting(30, check=_in_range(1, 3650, "days of metrics to keep (when the volume holds them)"))


@dataclass(frozen=True)
class GithubOAuthConfig:
    client_id: str = setting(check=_matches(_OAUTH_CLIENT_ID, "a GitHub OAuth app's client ID"))
    allowed_organizations: tuple[str, ...] = setting(each=_matches(_GITHUB_ORGANIZATION, "a GitHub organization's login, like ictsc"))
    # Numeric ids from the GitHub API (GET /orgs/ORG/teams), never team names: Grafana compares the ids.
    team_ids: tuple[int, ...] = setting((), each=_in_range(1, 2**53, "a numeric GitHub team id (GET /orgs/ORG/teams)"))


@dataclass(frozen=True)
class GrafanaDatabaseConfig:
    """An external database for Grafana's sessions and settings (its SQLite locks users out with more than one replica)."""

    type: Literal["postgres", "mysql"] = setting()
    host: str = setting(check=_matches(_DATABASE_HOST, "host:port of the database"))
    name: str = setting(check=_matches(DNS_LABEL, "a database name"))
    user: str = setting(check=_matches(_UNIX_USER, "a database user name"))


@dataclass(frozen=True)
class GrafanaConfig:
    enabled: bool = setting(False)
    hostname: Optional[str] = setting(None, check=_matches(_DNS_NAME, "a DNS name of addons.gateway.hostnames"))
    replicas: int = setting(1, check=_in_range(1, 10, "a replica count"))
    database: Optional[GrafanaDatabaseConfig] = setting(None)
    github: Optional[GithubOAuthConfig] = setting(None)
    plugins: tuple[str, ...] = setting((), each=_matches(_GRAFANA_PLUGIN, "a Grafana plugin id, like alexanderzobnin-zabbix-app "
                                                                            "(optionally @x.y.z)"))


@dataclass(frozen=True)
class LogsConfig:
    volume_gb: int = setting(50, check=_in_range(10, 65536, "a volume size (GiB)"))
    retention_days: int = setting(14, check=_in_range(1, 3650, "days of logs to keep"))
    # Each pattern found in a log line notifies Slack (the seeds' ElastAlert rules).
    alert_patterns: tuple[str, ...] = setting(("ERROR",), each=_log_pattern)


@dataclass(frozen=True)
class ZabbixConfig:
    enabled: bool = setting(False)
    # IPMI needs at least one poller: Zabbix's default is none, and IPMI items then never update (the seeds' trap).
    ipmi_pollers: int = setting(1, check=_in_range(1, 1000, "IPMI pollers (at least 1: with 0 Zabbix never polls IPMI)"))
    volume_gb: int = setting(20, check=_in_range(10, 65536, "a volume size (GiB)"))


@dataclass(frozen=True)
class MonitoringConfig:
    """The monitoring layer (components/layers/monitoring.py)."""

    slack_channel: str = setting(check=_matches(_SLACK_CHANNEL, "a Slack channel name without #, like alerts"))
    prometheus: PrometheusConfig = setting(PrometheusConfig())
    # A name of wireguard.clusterPeers: the cluster whose Prometheus and Loki receive this cluster's metrics and logs.
    send_to: Optional[str] = setting(None)
    # Names of wireguard.clusterPeers that send here: each one silent for 5 minutes is an alert (the dead man's switch).
    receive_from: tuple[str, ...] = setting(())
    # Names of wireguard.clusterPeers whose heartbeat (their Watchdog alert) this cluster watches.
    watch: tuple[str, ...] = setting(())
    # Public endpoints the blackbox exporter probes (besides https:// of every addons.gateway.hostnames).
    probes: tuple[str, ...] = setting((), each=_matches(_PROBE_URL, "an http:// or https:// URL"))
    grafana: GrafanaConfig = setting(GrafanaConfig())
    logs: LogsConfig = setting(LogsConfig())
    flows: bool = setting(False)  # the flow collector (NetFlow, sFlow, IPFIX) on the private pool
    zabbix: ZabbixConfig = setting(ZabbixConfig())


@dataclass(frozen=True)
class GithubSsoConfig:
    """Log-in to Argo CD through GitHub (Dex's GitHub connector): members of the organization only."""

    organization: str = setting(check=_matches(_GITHUB_ORGANIZATION, "a GitHub organization login"))
    client_id: str = setting(check=_matches(_OAUTH_CLIENT_ID, "a GitHub OAuth app's client ID"))  # secret: gitopsGithubClientSecret
    admin_teams: tuple[str, ...] = setting(each=_matches(_GITHUB_TEAM, "a GitHub team slug (lower case)"))  # Argo CD role:admin


@dataclass(frozen=True)
class SyncWindowConfig:
    """An AppProject sync window: when automated syncs may (allow) or may not (deny) happen."""

    kind: Literal["allow", "deny"] = setting()
    schedule: str = setting(check=_matches(_CRON, "a cron schedule of five fields, like 0 9 * * *"))  # when the window opens
    duration: str = setting(check=_matches(_DURATION, "a duration in hours and minutes, like 9h or 1h30m"))
    time_zone: str = setting("UTC", check=_matches(_TIME_ZONE, "an IANA time zone like Asia/Tokyo"))
    manual_sync: bool = setting(False)  # manual syncs still allowed inside a deny window


@dataclass(frozen=True)
class ApplicationConfig:
    """One Argo CD Application: a helmfile in a repository, rendered by the helmfile plugin."""

    repo_url: str = setting(check=_repo_url)
    namespace: str = setting(check=_matches(DNS_LABEL, "a namespace name that is a DNS label"))
    path: str = setting(".")
    target_revision: str = setting("HEAD")


@dataclass(frozen=True)
class EnvironmentConfig:
    """One environment Argo CD deploys to: its cluster, its AppProject and its Applications."""

    stack: str = setting()  # organization/project/stack; this stack itself is Argo CD's own cluster (in-cluster)
    helmfile_environment: str = setting(check=_matches(DNS_LABEL, "a helmfile environment name like production"))
    source_repos: tuple[str, ...] = setting(each=_source_repo)
    sync_teams: tuple[str, ...] = setting((), each=_matches(_GITHUB_TEAM, "a GitHub team slug (lower case)"))
    automated_sync: bool = setting(False)  # prune and self-heal
    sync_windows: tuple[SyncWindowConfig, ...] = setting(())
    applications: dict[str, ApplicationConfig] = setting({})


@dataclass(frozen=True)
class GitOpsConfig:
    """The GitOps layer (components/layers/gitops.py): Argo CD here, and the environments it deploys to."""

    hostname: str = setting(check=_matches(_DNS_NAME, "a DNS name like argocd.wsp.example.org"))  # on the global Gateway
    github: GithubSsoConfig = setting()
    slack_channel: str = setting(check=_matches(_SLACK_CHANNEL, "a Slack channel name without #, like argocd"))
    environments: dict[str, EnvironmentConfig] = setting()


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
    access: AccessConfig = setting()
    kubernetes: KubernetesConfig = setting(KubernetesConfig())
    layers: LayersConfig = setting(LayersConfig())
    charts: ChartsConfig = setting(ChartsConfig())
    addons: Optional[AddonsConfig] = setting(None)  # required when layers.addons is on
    monitoring: Optional[MonitoringConfig] = setting(None)  # required when layers.monitoring is on
    gitops: Optional[GitOpsConfig] = setting(None)  # required when layers.gitops is on
    node_os: Literal["ubuntu2404", "ubuntu2204"] = setting("ubuntu2404")
    node_nic_names: tuple[str, ...] = setting(catalog.DEFAULT_NODE_NIC_NAMES)
    ssh: SshConfig = setting(SshConfig())
    protect: Optional[bool] = setting(None)
    sakura_api_root_url: str = setting(DEFAULT_SAKURA_API_ROOT_URL)
    sakura_access_token: Optional[Secret] = setting(None, secret=True)
    sakura_access_token_secret: Optional[Secret] = setting(None, secret=True)
    # An API server without nodes to check the Kubernetes layers (Cilium, add-ons) against, instead of the kubeadm layer's.
    external_kubeconfig: Optional[Secret] = setting(None, secret=True)
    gitops_github_client_secret: Optional[Secret] = setting(None, secret=True)  # the GitHub OAuth app's
    gitops_slack_token: Optional[Secret] = setting(None, secret=True)  # a Slack bot token (xoxb-...)
    # Secrets of the monitoring layer; each is handed to the cluster as a Kubernetes Secret.
    slack_webhook_url: Optional[Secret] = setting(None, secret=True)
    grafana_github_client_secret: Optional[Secret] = setting(None, secret=True)
    grafana_database_password: Optional[Secret] = setting(None, secret=True)
    zabbix_api_token: Optional[Secret] = setting(None, secret=True)  # Grafana's Zabbix data source (made in Zabbix's UI)


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


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.:/-]{0,99}", re.ASCII)


def child_key(parent: str, name: Any) -> str:
    """The key path of `parent`'s entry `name`: `a.b`, or `a["odd name"]` when the name is not plain."""
    text = str(name)
    if _PLAIN_KEY.fullmatch(text):
        return f"{parent}.{text}" if parent else text
    quoted = json.dumps(text if len(text) <= 60 else text[:57] + "...")
    return f"{parent}[{quoted}]"


def looks_secret(key: str) -> bool:
    """Whether a key path names a secret (a part of it contains secret, token, password or key)."""
    parts = re.split(r"[.:\[\]]", key.split(":", 1)[1] if key.startswith(PROJECT + ":") else key)
    return any(_SECRET_NAME.search(part) for part in parts)


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "[hidden]" if _SECRET_NAME.search(str(k)) else _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def describe(value: Any, key: str = "") -> str:
    """How a given value is shown in a problem: never a secret, never more than 80 characters."""
    if isinstance(value, Secret):
        return "[secret]"
    if isinstance(value, Said):
        return str(value)
    if key and looks_secret(key):
        return "[hidden]"
    if isinstance(value, str):
        text = ascii(value)
    else:
        try:
            text = json.dumps(_redacted(value))
        except (TypeError, ValueError):
            text = Said(type(value).__name__)
    return text if len(text) <= 80 else text[:77] + "..."


_TYPE_NAMES = {int: "an integer", bool: "true or false", str: "a string"}


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


class _Reader:
    """Walks raw values against the dataclass model, collecting problems instead of stopping.

    A value that fails is read as INVALID. A required key is not reported missing when another
    problem already names it (a misspelling of it, or a value the stack file reader refused)."""

    def __init__(self, secret_keys: frozenset[str], reported: frozenset[str] = frozenset()):
        self.secret_keys = secret_keys
        self.reported = set(reported)
        self.problems: list[Problem] = []

    def fail(self, key: str, given: Any, expected: str) -> Any:
        self.problems.append(Problem(key, describe(given, key), expected))
        return INVALID

    def read(self, tp: Any, value: Any, key: str) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Union:
            inner = next(a for a in args if a is not type(None))
            return None if value is None else self.read(inner, value, key)
        if origin is Literal:
            if isinstance(value, str) and value in args:
                return value
            return self.fail(key, value, "one of " + ", ".join(map(str, args)))
        if origin is tuple:
            if not isinstance(value, list):
                return self.fail(key, value, "a list")
            return tuple(self.read(args[0], item, f"{key}[{i}]") for i, item in enumerate(value))
        if origin is dict:
            if not isinstance(value, dict):
                return self.fail(key, value, "a mapping")
            return {name: self.read(args[1], item, child_key(key, name)) for name, item in value.items()}
        if dataclasses.is_dataclass(tp) and tp is not Secret:
            return self.read_object(tp, value, key)
        return self.read_scalar(tp, value, key)

    def read_scalar(self, tp: Any, value: Any, key: str) -> Any:
        if tp is Secret:
            if not isinstance(value, str):
                return self.fail(key, Said("a value that is not a string"), "a string")
            if key not in self.secret_keys:
                return self.fail(key, Said("a plain-text value"), "a secret: set it with `pulumi config set --secret`")
            return Secret(value)
        if tp in _ADDRESS_FORMS:
            pattern, example = _ADDRESS_FORMS[tp]
            if isinstance(value, str) and pattern.fullmatch(value):
                try:
                    return tp(value, strict=True) if tp is IPv4Network else tp(value)
                except ValueError:
                    pass
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
            self.fail(child_key(key, unknown), value[unknown], f"a known key{hint}: {', '.join(sorted(fields))}")
            self.reported.update(child_key(key, c) for c in close)
        return cls(**{f.name: self.read_field(f, hints[f.name], value, name, child_key(key, name)) for name, f in fields.items()})

    def read_field(self, f: dataclasses.Field, tp: Any, raw: dict, name: str, key: str) -> Any:
        if name not in raw:
            if _required(f):
                if key not in self.reported:
                    self.fail(key, Said("nothing"), "a value (this key is required)")
                return INVALID
            return f.default if f.default is not dataclasses.MISSING else f.default_factory()
        value = self.read(tp, raw[name], key)
        if value is None or not _known(value):
            return value
        check, each = f.metadata.get("check"), f.metadata.get("each")
        if check is not None and (expected := check(value)) is not None:
            return self.fail(key, raw[name], expected)
        if each is not None:
            problems = [(i, expected) for i, item in enumerate(value) if (expected := each(item)) is not None]
            for i, expected in problems:
                self.fail(f"{key}[{i}]", raw[name][i], expected)
            if problems:
                return tuple(INVALID if i in dict(problems) else item for i, item in enumerate(value))
        return value


def _too_deep(value: Any) -> bool:
    """Whether a decoded value nests lists and mappings deeper than MAX_VALUE_DEPTH (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_VALUE_DEPTH:
                return True
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return False


def _decode_top_level(tp: Any, text: Any) -> Any:
    """Pulumi passes scalars as strings and objects as JSON; decode what is not meant to stay a string."""
    if typing.get_origin(tp) is typing.Union:
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if not isinstance(text, str) or tp in (str, Secret) or typing.get_origin(tp) is Literal:
        return text
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        # Not JSON (a plain scalar), or JSON the decoder refuses (a number of thousands of digits,
        # nesting beyond its recursion limit): the reader refuses the text as it is.
        return text


def _namespace_problem(key: str, fields: dict[str, Any]) -> Optional[Problem]:
    """A problem for a raw key outside our namespace that must not be ignored, else None."""
    if ":" not in key:
        return Problem(child_key("", key), describe(key), f"a namespaced key like {PROJECT}:{key}")
    namespace, name = key.split(":", 1)
    if namespace == PROJECT or namespace in KNOWN_NAMESPACES:
        return None
    squashed = re.sub(r"[^a-z0-9]", "", namespace.lower())
    target = re.sub(r"[^a-z0-9]", "", PROJECT)
    if squashed != target and difflib.SequenceMatcher(None, squashed, target).ratio() < 0.8:
        return None
    close = difflib.get_close_matches(name, fields, n=1)
    suggestion = f"{PROJECT}:{close[0] if close else name}"
    return Problem(child_key("", key), Said("a value"),
                   f"a key in the {PROJECT} namespace (did you mean {suggestion!r}?); this namespace is not ours "
                   f"and a misspelled one would be ignored")


def load_config(raw: dict[str, Any], *, stack: str, source: str, secret_keys: frozenset[str] = frozenset(),
                earlier: tuple[Problem, ...] = (), peers: Optional[Callable[[str], Optional["StackConfig"]]] = None
                ) -> LoadedConfig:
    """Validate the project's config keys (`contest-k8s:*`) into a LoadedConfig.

    Keys of other namespaces are left alone, except one that looks like a misspelling of ours.
    `earlier` are problems the stack file reader already found (their keys are not named
    again); `peers(stack)` returns a peer stack's validated config when it can be read,
    for the rules between this cluster and its `wireguard.clusterPeers`."""
    prefix = PROJECT + ":"
    hints = typing.get_type_hints(StackConfig)
    fields = {camel(f.name): f for f in dataclasses.fields(StackConfig)}
    reader = _Reader(secret_keys, frozenset(p.key for p in earlier))
    for key in sorted(raw):
        problem = _namespace_problem(key, fields)
        if problem is not None:
            reader.problems.append(problem)
            # The key it stands for is not reported missing as well.
            reader.reported.update(prefix + c for c in difflib.get_close_matches(key.split(":", 1)[-1], fields, n=1))
    ours = {k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix)}
    for unknown in sorted(set(ours) - set(fields)):
        close = difflib.get_close_matches(unknown, fields, n=1)
        hint = f" (did you mean {prefix + close[0]!r}?)" if close else ""
        reader.fail(child_key("", prefix + unknown), Said("a value"), f"a known key{hint}: {', '.join(prefix + k for k in sorted(fields))}")
        reader.reported.update(prefix + c for c in close)
    decoded = {}
    for name, f in fields.items():
        if name in ours:
            value = _decode_top_level(hints[f.name], ours[name])
            if _too_deep(value):
                reader.fail(prefix + name, Said(f"a value nested more than {MAX_VALUE_DEPTH} levels deep"),
                            f"a value nested at most {MAX_VALUE_DEPTH} levels deep")
                reader.reported.add(prefix + name)
                continue
            decoded[name] = value
    values = {f.name: reader.read_field(f, hints[f.name], decoded, name, prefix + name) for name, f in fields.items()}
    config = StackConfig(**values)
    named_earlier = {p.key for p in earlier}
    # A rule does not name a key again that a misspelling already stands for (a missing section it would ask for).
    ruled = [p for p in validate(config, stack=stack, peers=peers) if p.key not in reader.reported]
    problems = list(earlier) + [p for p in reader.problems + ruled if p.key not in named_earlier]
    if problems:
        raise ConfigError(source, problems)
    return LoadedConfig(stack=stack, source=source, config=config)


# --------------------------------------------------------------------------- rules between keys


def natural_key(name: str) -> tuple:
    """Sort key that puts worker-2 before worker-10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name, flags=re.ASCII))


def first_node(nodes: dict[str, int]) -> str:
    return min(nodes, key=natural_key)


ROUTER_NAME = "router"

Fail = Callable[[str, Any, str], None]


def validate(c: StackConfig, *, stack: Optional[str] = None,
             peers: Optional[Callable[[str], Optional[StackConfig]]] = None) -> list[Problem]:
    """Run every rule between keys (RULES, then the cluster-peer rule); each skips what failed its type check."""
    p: list[Problem] = []
    k = PROJECT + ":"

    def fail(key: str, given: Any, expected: str) -> None:
        p.append(Problem(k + key, describe(given, key), expected))

    for rule in RULES:
        rule(c, fail)
    _check_cluster_peers(c, fail, stack, peers)
    return p


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _role_nodes(c: StackConfig) -> dict[str, Any]:
    return {
        "apiLoadBalancer.nodes": c.api_load_balancer.nodes,
        "controlPlanes.nodes": c.control_planes.nodes,
        "workers.nodes": c.workers.nodes,
    }


def _check_node_names(c: StackConfig, fail: Fail) -> None:
    """Node names are DNS labels, unique across roles, and never the router's."""
    seen: dict[str, str] = {ROUTER_NAME: "the router"}
    for key, nodes in _role_nodes(c).items():
        if nodes is INVALID:
            continue
        for name in nodes:
            if not DNS_LABEL.fullmatch(name):
                fail(child_key(key, name), name, "a node name that is a DNS label (lower-case letters, digits, '-')")
            elif name in seen:
                fail(child_key(key, name), name, f"a unique node name; {name!r} is already {seen[name]}")
            else:
                seen[name] = f"used in {key}"


def _check_counts(c: StackConfig, fail: Fail) -> None:
    """Odd control planes (etcd quorum), a known bootstrap node, 2+ load balancers within the VRRP priorities, 1+ worker."""
    cps, lbs, workers = c.control_planes.nodes, c.api_load_balancer.nodes, c.workers.nodes
    if cps is not INVALID:
        if len(cps) == 0 or len(cps) % 2 == 0:
            fail("controlPlanes.nodes", Said(f"{len(cps)} control planes"), "an odd number of control planes (1, 3, 5...) so etcd keeps quorum")
        bootstrap = c.control_planes.bootstrap_node
        if _known(bootstrap) and bootstrap is not None and bootstrap not in cps:
            fail("controlPlanes.bootstrapNode", bootstrap, "the name of one of controlPlanes.nodes")
    if lbs is not INVALID:
        if len(lbs) < 2:
            fail("apiLoadBalancer.nodes", Said(_count(len(lbs), "node")), "at least 2 load balancer nodes (active/standby)")
        elif len(lbs) > MAX_LOAD_BALANCERS:
            fail("apiLoadBalancer.nodes", Said(_count(len(lbs), "node")),
                 f"at most {MAX_LOAD_BALANCERS} load balancer nodes: their VRRP priorities are {VRRP_TOP_PRIORITY}, "
                 f"{VRRP_TOP_PRIORITY - VRRP_PRIORITY_STEP}, ... down to 1")
    if workers is not INVALID and not workers:
        fail("workers.nodes", Said("no workers"), "at least one worker (MetalLB speakers run there)")


def _check_global_block(c: StackConfig, fail: Fail) -> None:
    """Hosts are offsets inside the router's block; the block itself is assigned by Sakura."""
    prefix = c.network.global_prefix_length
    if not _known(prefix):
        return
    low, high = catalog.FIRST_USABLE_OFFSET, catalog.last_usable_offset(prefix)
    usable = f"a host number from {low} to {high} (usable part of a /{prefix} block)"
    lbs, cps = c.api_load_balancer.nodes, c.control_planes.nodes
    if lbs is not INVALID and cps is not INVALID:
        needed = len(lbs) + len(cps) + 2
        if needed > high - low + 1:
            fail("network.globalPrefixLength", prefix, f"a block with room for {needed} addresses: load balancers, VIP, "
                 f"control planes and router (a /{prefix} has {high - low + 1} usable)")
    taken: dict[int, str] = {}

    def place(key: str, host: Any) -> None:
        if not _known(host):
            return
        if not low <= host <= high:
            fail(key, host, usable)
        elif host in taken:
            fail(key, host, f"a host number not already given to {taken[host]}")
        else:
            taken[host] = key

    def place_nodes(key: str, nodes: Any) -> None:
        if nodes is not INVALID:
            for name, host in sorted(nodes.items()):
                place(child_key(key, name), host)

    place_nodes("apiLoadBalancer.nodes", lbs)
    place("apiLoadBalancer.vipHost", c.api_load_balancer.vip_host)
    place_nodes("controlPlanes.nodes", cps)
    place("router.globalHost", c.router.global_host)

    pool = c.metallb.global_pool
    if not _known(pool.first, pool.last):
        return
    given = Said(f"{pool.first}-{pool.last}")
    if pool.first > pool.last:
        fail("metallb.globalPool", given, "first <= last")
    elif not (low <= pool.first and pool.last <= high):
        fail("metallb.globalPool", given, f"a range inside the usable hosts {low}-{high} of the /{prefix} block")
    else:
        clash = sorted(h for h in taken if pool.first <= h <= pool.last)
        if clash:
            fail("metallb.globalPool", given, f"a range that leaves out hosts given to VMs ({', '.join(taken[h] for h in clash)})")


def _check_private_network(c: StackConfig, fail: Fail) -> None:
    """The private switch holds the router and every worker; a network too small is blamed once, on itself."""
    net = c.network.private_cidr
    if not _known(net):
        return
    workers = c.workers.nodes
    high = net.num_addresses - 2
    if workers is not INVALID and high < 1 + len(workers):
        fail("network.privateCidr", str(net), f"a network with room for the router and {_count(len(workers), 'worker')} "
             f"({1 + len(workers)} host addresses; a /{net.prefixlen} has {max(high, 0)})")
        return
    hosts = [("router.privateHost", c.router.private_host)]
    if workers is not INVALID:
        hosts += [(child_key("workers.nodes", n), h) for n, h in sorted(workers.items())]
    taken: dict[int, str] = {}
    for key, host in hosts:
        if not _known(host):
            continue
        if not 1 <= host <= high:
            fail(key, host, f"a host number from 1 to {high} inside network.privateCidr {net}")
        elif host in taken:
            fail(key, host, f"a host number not already given to {taken[host]}")
        else:
            taken[host] = key


def _cluster_networks(c: StackConfig) -> list[tuple[str, IPv4Network]]:
    """This cluster's own networks, each with the key that sets it (those that passed their type check)."""
    named = [
        ("network.privateCidr", c.network.private_cidr),
        ("metallb.privatePool", c.metallb.private_pool),
        ("kubernetes.podCidr", c.kubernetes.pod_cidr),
        ("kubernetes.serviceCidr", c.kubernetes.service_cidr),
        ("wireguard.address", c.wireguard.address.network if _known(c.wireguard.address) else INVALID),
    ]
    return [(k, n) for k, n in named if n is not None and _known(n)]


def _venue_networks(c: StackConfig) -> list[tuple[str, IPv4Network]]:
    venue = c.wireguard.venue
    if venue is None or venue is INVALID or venue.allowed_ips is INVALID:
        return []
    return [(f"wireguard.venue.allowedIps[{i}]", n) for i, n in enumerate(venue.allowed_ips) if _known(n)]


def _check_networks_disjoint(c: StackConfig, fail: Fail) -> None:
    named = _cluster_networks(c) + _venue_networks(c)
    for i, (key, net) in enumerate(named):
        for other_key, other in named[:i]:
            if net.overlaps(other):
                fail(key, str(net), f"a network that does not overlap {other_key} ({other})")
                break


def _check_special_ranges(c: StackConfig, fail: Fail) -> None:
    """No cluster network, tunnel or venue address inside a special-purpose range."""
    named: list[tuple[str, Any]] = _cluster_networks(c) + _venue_networks(c)
    venue = c.wireguard.venue
    if venue is not None and _known(venue.address):
        named.append(("wireguard.venue.address", IPv4Network(f"{venue.address}/32")))
    for key, net in named:
        for reserved, what in SPECIAL_RANGES:
            if net.overlaps(reserved):
                given = str(net.network_address) if key == "wireguard.venue.address" else str(net)
                fail(key, given, f"an address outside the special-purpose ranges; {reserved} is {what}")
                break


def _check_kubernetes_networks(c: StackConfig, fail: Fail) -> None:
    """Pod and service subnets of sizes kubeadm accepts, and a /24 of pod addresses for every node."""
    pod, service = c.kubernetes.pod_cidr, c.kubernetes.service_cidr
    if _known(service):
        host_bits = 32 - service.prefixlen
        if host_bits > SERVICE_SUBNET_MAX_HOST_BITS or service.num_addresses < SERVICE_SUBNET_MIN_ADDRESSES:
            fail("kubernetes.serviceCidr", str(service), f"a service subnet from /{32 - SERVICE_SUBNET_MAX_HOST_BITS} to /28: "
                 f"kubeadm and kube-apiserver refuse more than {SERVICE_SUBNET_MAX_HOST_BITS} host bits, "
                 f"and kubeadm needs at least {SERVICE_SUBNET_MIN_ADDRESSES} addresses")
    if _known(pod):
        largest = NODE_CIDR_MASK_SIZE - POD_SUBNET_NODE_MASK_MAX_DIFF
        cps, workers = c.control_planes.nodes, c.workers.nodes
        nodes = len(cps) + len(workers) if cps is not INVALID and workers is not INVALID else 0
        fits = 2 ** max(NODE_CIDR_MASK_SIZE - pod.prefixlen, 0)
        if not largest <= pod.prefixlen <= NODE_CIDR_MASK_SIZE:
            fail("kubernetes.podCidr", str(pod), f"a pod subnet from /{largest} to /{NODE_CIDR_MASK_SIZE}: every node gets a "
                 f"/{NODE_CIDR_MASK_SIZE} of it, and kubeadm allows at most {POD_SUBNET_NODE_MASK_MAX_DIFF} bits between the two")
        elif fits < nodes:
            fail("kubernetes.podCidr", str(pod), f"a pod subnet with a /{NODE_CIDR_MASK_SIZE} for each of the {nodes} nodes "
                 f"(control planes and workers; a /{pod.prefixlen} has {fits})")


def _check_router(c: StackConfig, fail: Fail) -> None:
    """eBGP between different AS numbers; a VyOS router needs exactly one image source."""
    if _known(c.router.asn, c.metallb.asn) and c.router.asn == c.metallb.asn:
        fail("metallb.asn", c.metallb.asn, f"an AS number different from router.asn ({c.router.asn}): the sessions are eBGP")
    image = c.router.vyos_image
    if _known(c.router.flavor) and c.router.flavor == "vyos" and image is None:
        fail("router.vyosImage", Said("nothing"), "archiveId or file: Sakura has no public VyOS archive (or use flavor 'frr')")
    if image is not None and _known(image.archive_id, image.file) and (image.archive_id is None) == (image.file is None):
        fail("router.vyosImage", Said("both or neither of archiveId and file"), "exactly one of archiveId and file")


def _check_wireguard(c: StackConfig, fail: Fail) -> None:
    """The router's tunnel address and the venue's are distinct hosts of one tunnel network."""
    wg = c.wireguard
    if not _known(wg.address):
        return
    net = wg.address.network
    if wg.address.ip in (net.network_address, net.broadcast_address):
        fail("wireguard.address", str(wg.address), "a host address inside its network, like 10.255.0.11/24")
        return
    venue = wg.venue
    if venue is None or not _known(venue.address):
        return
    if venue.address not in net or venue.address in (net.network_address, net.broadcast_address, wg.address.ip):
        fail("wireguard.venue.address", str(venue.address),
             f"another host of the tunnel network {net} (not its network or broadcast address, not wireguard.address)")


def _check_nic_names(c: StackConfig, fail: Fail) -> None:
    names = c.node_nic_names
    if not _known(names):
        return
    if len(names) != 2 or any(not _IFNAME.fullmatch(n) for n in names) or len(set(names)) != 2:
        fail("nodeNicNames", list(names), "two distinct interface names (first and second NIC), like [ens3, ens4]")


def _check_layers(c: StackConfig, fail: Fail) -> None:
    layers = c.layers
    if not _known(layers.edge, layers.api_load_balancer, layers.kubernetes):
        return
    if _known(c.zone) and c.zone in catalog.SANDBOX_ZONES and (layers.edge or layers.api_load_balancer or layers.kubernetes):
        fail("layers", Said("layers that log in to the VMs"), f"edge, apiLoadBalancer and kubernetes all false in zone {c.zone} "
             "(the sandbox's VMs never boot)")
    if layers.kubernetes and not (layers.edge and layers.api_load_balancer):
        fail("layers.kubernetes", True, "false unless layers.edge and layers.apiLoadBalancer are true (nodes need the router and the API endpoint)")


def _check_external_cluster(c: StackConfig, fail: Fail) -> None:
    """An API server without nodes (the tests' control plane) stands in for the kubeadm layer's cluster, and only
    there does nothing wait for readiness: the two go together."""
    external, wait = c.external_kubeconfig, c.kubernetes.await_readiness
    if external is INVALID or wait is INVALID:
        return
    if external is not None and c.layers.kubernetes is True:
        fail("externalKubeconfig", Said("a kubeconfig"), "unset while layers.kubernetes is true (that layer makes the "
             "cluster the Kubernetes layers go to); or layers.kubernetes: false")
    if external is not None and wait:
        fail("kubernetes.awaitReadiness", True, "false with externalKubeconfig: it names an API server without nodes, where "
             "nothing ever becomes ready (Cilium is set up for this plan's VIP: not a way to install onto another cluster)")
    if external is None and not wait:
        fail("kubernetes.awaitReadiness", False, "true unless externalKubeconfig names an API server without nodes (on "
             "kubeadm's nodes the add-ons must wait for the charts they need)")


def _check_access(c: StackConfig, fail: Fail) -> None:
    """At least one operator range (the machine that runs `pulumi up` reaches every VM over SSH from it);
    no public port twice, none that the router itself serves."""
    a = c.access
    if _known(a.operator_cidrs) and not a.operator_cidrs:
        fail("access.operatorCidrs", Said("an empty list"), "at least one network that operators (and `pulumi up`) connect "
             "from, like 203.0.113.64/26: SSH and the Kubernetes API answer nothing else")
    if _known(a.public_tcp_ports):
        seen: set[int] = set()
        for i, port in enumerate(a.public_tcp_ports):
            if port in seen:
                fail(f"access.publicTcpPorts[{i}]", port, "a port listed once")
            elif port in (22, 6443):
                fail(f"access.publicTcpPorts[{i}]", port, "a service port of the MetalLB global pool, not SSH (22) or "
                     "the Kubernetes API (6443), which only access.operatorCidrs reach")
            seen.add(port)
    if _known(a.operator_cidrs, a.public_tcp_ports, c.wireguard.venue):
        venue = len(c.wireguard.venue.allowed_ips) if c.wireguard.venue is not None else 0
        fixed = 2 + 6  # this cluster's two networks; the replies, DNS, NTP, ICMP, fragments, the final deny
        largest = fixed + len(a.operator_cidrs) + max(1 + len(a.public_tcp_ports), len(a.operator_cidrs) + 1 + venue)
        if largest > MAX_FILTER_RULES:
            fail("access", Said(f"packet filters of {largest} rules"), f"at most {MAX_FILTER_RULES} rules per Sakura packet filter: "
                 "fewer operatorCidrs, publicTcpPorts or wireguard.venue.allowedIps (summarize the networks)")


def _check_api_url(c: StackConfig, fail: Fail) -> None:
    """https to a named host; plain http only to an IPv4 literal on 127.0.0.0/8 (a fake API): the token travels in it."""
    url = c.sakura_api_root_url
    if not _known(url):
        return
    expected = ("an https:// URL with a host name and no query or fragment "
                "(plain http:// only to a fake API at an IPv4 address in 127.0.0.0/8)")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:
        return fail("sakuraApiRootUrl", url, expected)
    if parts.username is not None or parts.password is not None:
        return fail("sakuraApiRootUrl", Said("a URL with a user name or password in it"),
                    expected + "; credentials come from SAKURACLOUD_ACCESS_TOKEN* or the secret keys")
    if not url.isascii() or any(ch.isspace() or not ch.isprintable() for ch in url) or parts.query or parts.fragment:
        return fail("sakuraApiRootUrl", url, expected)
    if parts.scheme == "https" and host and _HOST_NAME.fullmatch(host):
        return None
    if parts.scheme == "http" and host and re.fullmatch(_IPV4, host, re.ASCII):
        try:
            if IPv4Address(host) in IPv4Network("127.0.0.0/8"):
                return None
        except ValueError:
            pass
    return fail("sakuraApiRootUrl", url, expected)


def _check_charts(c: StackConfig, fail: Fail) -> None:
    """A version override names a chart of components/charts.py and is written as that chart's versions are."""
    versions = c.charts.versions
    if versions is INVALID:
        return
    for name, version in sorted(versions.items()):
        key = child_key("charts.versions", name)
        chart = charts.BY_NAME.get(name)
        if chart is None:
            close = difflib.get_close_matches(name, charts.BY_NAME, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            fail(key, name, f"the name of a chart the program installs{hint}: {', '.join(sorted(charts.BY_NAME))}")
        elif _known(version) and (problem := charts.version_problem(chart, version)) is not None:
            fail(key, version, problem)


def _check_addons(c: StackConfig, fail: Fail) -> None:
    """The add-ons need the cluster; when they are on: the ACME e-mail, the Gateway's names, 80 and 443 open to the
    global pool, a data disk on every worker for its Ceph OSD, and no more Ceph replicas than workers."""
    layers, addons = c.layers, c.addons
    if not _known(layers.kubernetes, layers.addons):
        return
    if layers.addons is True and layers.kubernetes is False and c.external_kubeconfig is None:
        fail("layers.addons", True, "false unless layers.kubernetes is true or externalKubeconfig is set (the add-ons are "
             "installed through a cluster's API)")
        return
    if not layers.addons_on:
        return
    if addons is None:
        fail("addons", Said("nothing"), "an addons section (acme.email, acme.server, gateway.hostnames) when layers.addons "
             "is on, as it is by default with layers.kubernetes; or layers.addons: false")
        return
    if addons is INVALID:
        return
    hostnames = addons.gateway.hostnames
    if hostnames is not INVALID:
        if not hostnames:
            fail("addons.gateway.hostnames", Said("an empty list"), "at least one DNS name for the global Gateway's HTTPS "
                 "certificate when layers.addons is on")
        seen: set[str] = set()
        for i, name in enumerate(hostnames):
            if name in seen:
                fail(f"addons.gateway.hostnames[{i}]", name, "a name listed once")
            seen.add(name)
    ports = c.access.public_tcp_ports
    if _known(ports) and not {80, 443} <= set(ports):
        fail("access.publicTcpPorts", list(ports), "a list with 80 and 443 when layers.addons is on: the global Gateway "
             "answers ACME HTTP-01 and redirects to HTTPS on 80, and serves HTTPS on 443")
    if _known(c.workers.data_disk_gb) and c.workers.data_disk_gb is None:
        fail("workers.dataDiskGb", Said("nothing"), "an SSD size for every worker's data disk when layers.addons is on: "
             "Rook-Ceph puts one OSD on it, never on the boot disk")
    workers = c.workers.nodes
    if workers is not INVALID and _known(addons.ceph) and addons.ceph.replicas > len(workers):
        fail("addons.ceph.replicas", addons.ceph.replicas, f"at most the number of workers ({len(workers)}): each replica "
             "of a pool is on another worker's OSD")


ZABBIX_PLUGIN = "alexanderzobnin-zabbix-app"
# Addresses of the private pool the monitoring layer takes (plan.MonitoringPlan): the Gateway's is +1.
FLOW_COLLECTOR_HOST, ZABBIX_HOST = 2, 3


def _check_monitoring(c: StackConfig, fail: Fail) -> None:
    """The monitoring layer needs the add-ons; when it is on: somewhere for its metrics and logs (a peer it sends to, or
    its own Grafana), peers named in wireguard.clusterPeers, the private pool, Grafana's name on the Gateway, and more
    than one Grafana replica only with an external database (SQLite locks users out)."""
    layers, m = c.layers, c.monitoring
    if not _known(layers.addons, layers.kubernetes, layers.monitoring):
        return
    if layers.monitoring is True and not layers.addons_on:
        fail("layers.monitoring", True, "false unless the add-ons are on (Prometheus and Loki keep their data on Ceph volumes)")
        return
    if not layers.monitoring_on:
        return
    if m is None:
        fail("monitoring", Said("nothing"), "a monitoring section (slackChannel, and sendTo or grafana.enabled) when layers.monitoring "
             "is on, as it is by default with the add-ons; or layers.monitoring: false")
        return
    if m is INVALID:
        return
    peers = c.wireguard.cluster_peers
    if peers is not INVALID:
        named = [("monitoring.sendTo", m.send_to)] if m.send_to is not None else []
        for key, names in (("monitoring.receiveFrom", m.receive_from), ("monitoring.watch", m.watch)):
            named += [(f"{key}[{i}]", name) for i, name in enumerate(names)] if names is not INVALID else []
        for key, name in named:
            if _known(name) and name not in peers:
                fail(key, name, f"a name of wireguard.clusterPeers ({', '.join(sorted(peers)) or 'none'}): metrics and "
                     "heartbeats travel through the tunnels between clusters")
    grafana = m.grafana
    if _known(m.send_to, grafana.enabled) and m.send_to is None and not grafana.enabled:
        fail("monitoring.sendTo", Said("nothing"), "a cluster peer that receives this cluster's metrics and logs, or "
             "monitoring.grafana.enabled: true (this cluster keeps and shows its own)")
    if _known(m.send_to, m.receive_from) and m.send_to is not None and m.send_to in m.receive_from:
        fail("monitoring.sendTo", m.send_to, "a cluster not also in monitoring.receiveFrom (each would wait for the other)")
    if _known(m.receive_from, grafana.enabled) and m.receive_from and not grafana.enabled:
        fail("monitoring.receiveFrom", list(m.receive_from), "no clusters unless monitoring.grafana.enabled is true (their metrics "
             "and logs are shown by this cluster's Grafana)")
    pool = c.metallb.private_pool
    if _known(pool) and pool is None:
        fail("metallb.privatePool", Said("nothing"), "a private pool when layers.monitoring is on: Prometheus and Loki are reached "
             "by other clusters on its Gateway, the flow collector and Zabbix on its addresses")
    elif _known(pool, m.flows, m.zabbix.enabled) and (m.flows or m.zabbix.enabled) and pool.num_addresses - 2 < ZABBIX_HOST:
        fail("metallb.privatePool", str(pool), f"a pool with at least {ZABBIX_HOST} usable addresses (the private Gateway, the flow "
             "collector, Zabbix)")
    if not _known(grafana.enabled) or not grafana.enabled:
        return
    hostnames = c.addons.gateway.hostnames if c.addons is not None and _known(c.addons) else INVALID
    if _known(grafana.hostname) and grafana.hostname is None:
        fail("monitoring.grafana.hostname", Said("nothing"), "the DNS name Grafana answers on (one of addons.gateway.hostnames)")
    elif _known(grafana.hostname, hostnames) and grafana.hostname not in hostnames:
        fail("monitoring.grafana.hostname", grafana.hostname, f"one of addons.gateway.hostnames ({', '.join(hostnames)}): the "
             "global Gateway's certificate covers only those")
    if _known(grafana.replicas, grafana.database) and grafana.replicas > 1 and grafana.database is None:
        fail("monitoring.grafana.replicas", grafana.replicas, "1 unless monitoring.grafana.database is set: replicas share no "
             "SQLite file, and each logs out the users the others logged in")
    if _known(grafana.database, c.grafana_database_password) and grafana.database is not None and c.grafana_database_password is None:
        fail("grafanaDatabasePassword", Said("nothing"), "the database user's password when monitoring.grafana.database is set: "
             "`pulumi config set --secret grafanaDatabasePassword ...`")


def _check_gitops(c: StackConfig, fail: Fail) -> None:
    """Argo CD needs the add-ons (the Gateway, its certificate); when it is on: its hostname on the Gateway, someone to
    administer it, and environments of other stacks (each once) whose applications their own project permits."""
    layers, gitops = c.layers, c.gitops
    if not _known(layers.gitops, layers.kubernetes, layers.addons) or not layers.gitops:
        return
    if not layers.addons_on:
        fail("layers.gitops", True, "false unless layers.addons is on: Argo CD is served on the global Gateway, with its "
             "certificate")
        return
    if gitops is None:
        fail("gitops", Said("nothing"), "a gitops section (hostname, github, slackChannel, environments) when layers.gitops "
             "is on; or layers.gitops: false")
        return
    if gitops is INVALID:
        return
    hostnames = c.addons.gateway.hostnames if c.addons is not None and _known(c.addons) else INVALID
    if _known(gitops.hostname, hostnames) and gitops.hostname not in hostnames:
        fail("gitops.hostname", gitops.hostname, f"one of addons.gateway.hostnames ({', '.join(hostnames)}): the global "
             "Gateway's certificate must name it")
    if _known(gitops.github.admin_teams) and not gitops.github.admin_teams:
        fail("gitops.github.adminTeams", Said("an empty list"), "at least one GitHub team: Argo CD's admin account is off, "
             "so its admins are these teams")
    if gitops.environments is INVALID:
        return
    if not gitops.environments:
        fail("gitops.environments", Said("nothing"), "at least one environment Argo CD deploys to")
    stacks: dict[str, str] = {}
    for name, environment in sorted(gitops.environments.items()):
        key = child_key("gitops.environments", name)
        if not DNS_LABEL.fullmatch(name):
            fail(key, name, "an environment name that is a DNS label (it names the AppProject and the cluster)")
            continue
        if environment is INVALID:
            continue
        stack = environment.stack
        if _known(stack):
            parts = stack.split("/")
            if len(parts) != 3 or not all(STACK_NAME_PART.fullmatch(part) for part in parts):
                fail(f"{key}.stack", stack, "a fully qualified stack name organization/project/stack")
            elif stack in stacks:
                fail(f"{key}.stack", stack, f"a stack not already the cluster of {stacks[stack]}")
            else:
                stacks[stack] = key
        repos = environment.source_repos
        if _known(repos) and not repos:
            fail(f"{key}.sourceRepos", Said("an empty list"), "at least one repository the environment may deploy from")
        if environment.applications is INVALID:
            continue
        for app, application in sorted(environment.applications.items()):
            app_key = child_key(f"{key}.applications", app)
            if not DNS_LABEL.fullmatch(app) or len(f"{app}-{name}") > 63:
                fail(app_key, app, f"an application name that is a DNS label (with -{name}, at most 63 characters)")
            elif _known(application, repos) and not source_permitted(repos, application.repo_url):
                fail(f"{app_key}.repoUrl", application.repo_url, f"a repository {key}.sourceRepos permits "
                     f"({', '.join(repos)}): Argo CD would refuse the application")


RULES: tuple[Callable[[StackConfig, Fail], None], ...] = (
    _check_node_names,
    _check_counts,
    _check_global_block,
    _check_private_network,
    _check_networks_disjoint,
    _check_special_ranges,
    _check_kubernetes_networks,
    _check_router,
    _check_wireguard,
    _check_nic_names,
    _check_layers,
    _check_external_cluster,
    _check_access,
    _check_api_url,
    _check_charts,
    _check_addons,
    _check_monitoring,
    _check_gitops,
)


def _check_cluster_peers(c: StackConfig, fail: Fail, stack: Optional[str],
                         peers: Optional[Callable[[str], Optional[StackConfig]]]) -> None:
    """Peer names are DNS labels, each peer another stack (never this one, never twice), and, where the
    peer's stack file can be read, its routed networks overlap neither this cluster's nor another peer's."""
    wg = c.wireguard
    if wg.cluster_peers is INVALID:
        return
    own = _cluster_networks(c) + _venue_networks(c)
    allowed: list[tuple[str, tuple[IPv4Network, ...]]] = []
    venue = wg.venue
    if venue is not None and _known(venue.address, venue.allowed_ips):
        allowed.append(("wireguard.venue", (IPv4Network(f"{venue.address}/32"),) + venue.allowed_ips))
    peered: dict[str, str] = {}
    for name, ref in sorted(wg.cluster_peers.items()):
        key = child_key("wireguard.clusterPeers", name)
        if not DNS_LABEL.fullmatch(name):
            fail(key, name, "a peer name that is a DNS label")
            continue
        if not _known(ref):
            continue
        parts = ref.split("/")
        if len(parts) != 3 or not all(STACK_NAME_PART.fullmatch(part) for part in parts):
            fail(key, ref, "a fully qualified stack name organization/project/stack")
            continue
        project, peer_stack = parts[1], parts[2]
        if stack is not None and project == PROJECT and peer_stack == stack:
            fail(key, ref, f"another stack than this one ({stack}): a cluster does not peer with itself")
            continue
        if ref in peered:
            fail(key, ref, f"a stack not already peered as {peered[ref]}")
            continue
        peered[ref] = key
        peer = peers(peer_stack) if peers is not None and project == PROJECT else None
        if peer is None:
            continue
        problem = _peer_problem(peer, peer_stack, c, own, allowed)
        if problem is not None:
            fail(key, ref, problem)
            continue
        routed = (IPv4Network(f"{peer.wireguard.address.ip}/32"), peer.network.private_cidr) + (
            (peer.metallb.private_pool,) if peer.metallb.private_pool is not None else ())
        allowed.append((key, routed))


def _peer_problem(peer: StackConfig, peer_stack: str, c: StackConfig, own: list[tuple[str, IPv4Network]],
                  allowed: list[tuple[str, tuple[IPv4Network, ...]]]) -> Optional[str]:
    """What is wrong with peering with `peer` (read from its stack file), or None."""
    source = f"Pulumi.{peer_stack}.yaml"
    routed = [("network.privateCidr", peer.network.private_cidr)]
    if peer.metallb.private_pool is not None:
        routed.append(("metallb.privatePool", peer.metallb.private_pool))
    for peer_key, net in routed:
        for own_key, mine in own:
            if net.overlaps(mine):
                return (f"a stack whose routed networks do not overlap this cluster's: {source} has {peer_key} {net}, "
                        f"which overlaps {own_key} ({mine}) and would route it into the tunnel")
    tunnel = peer.wireguard.address.ip
    if _known(c.wireguard.address) and tunnel == c.wireguard.address.ip:
        return f"a stack with its own tunnel address: {source} has wireguard.address {peer.wireguard.address} too"
    if _known(c.wireguard.address) and peer.wireguard.address.network != c.wireguard.address.network:
        return (f"a stack on this tunnel network ({c.wireguard.address.network}): {source} has wireguard.address "
                f"{peer.wireguard.address}, and each cluster's load balancers route only their own tunnel network back, so "
                "neither could reach the other's API endpoint")
    mine_allowed = (IPv4Network(f"{tunnel}/32"),) + tuple(n for _, n in routed)
    for other_key, others in allowed:
        for net in mine_allowed:
            clash = next((o for o in others if net.overlaps(o)), None)
            if clash is not None:
                return (f"a peer whose WireGuard AllowedIPs do not overlap those of {other_key}: "
                        f"{source} gives {net}, which overlaps {clash}")
    return None
