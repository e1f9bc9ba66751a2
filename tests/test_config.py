"""The stack config: the three stack files load, and every kind of bad value is refused by name."""

from __future__ import annotations

import base64
import time
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from components.config import PROJECT, ConfigError, Secret, load_config
from components.offline import PROJECT_ROOT, load_stack, read_stack_file

from .conftest import STACKS, write_stack

K = PROJECT + ":"


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_load_with_the_seed_sizes(stack):
    loaded, _, _ = load_stack(stack)
    c = loaded.config
    assert c.network.global_prefix_length == 27
    assert (c.control_planes.size.cpu, c.control_planes.size.memory_gb, c.control_planes.size.disk_gb) == (4, 8, 100)
    assert (c.workers.size.cpu, c.workers.size.memory_gb, c.workers.size.disk_gb) == (8, 32, 250)
    assert c.workers.data_disk_gb == 250
    for size in (c.api_load_balancer.size, c.router.size):
        assert (size.cpu, size.memory_gb, size.disk_gb) == (4, 8, 40)
    assert len(c.control_planes.nodes) == 3 and len(c.workers.nodes) == 3 and len(c.api_load_balancer.nodes) == 2
    assert (c.router.asn, c.metallb.asn) == (65020, 65021)
    assert c.router.flavor == "frr" and c.router.vyos_image is None
    assert c.access.operator_cidrs and c.access.public_tcp_ports == (80, 443)
    assert loaded.protect_stateful == (stack == "prd")


def test_stacks_differ_only_in_config_values():
    """prd, dev and wsp have the same keys; only values differ. The names of wireguard.clusterPeers are values: each stack
    names the others. The exception is the `gitops` section: only the stack that runs Argo CD (`layers.gitops: true`,
    wsp) has one, since it describes Argo CD and every environment it drives."""
    def keys(value, prefix=""):
        if isinstance(value, dict) and not prefix.endswith(".clusterPeers"):
            return {k for key, v in value.items() for k in keys(v, f"{prefix}.{key}")} | {prefix}
        return {prefix}
    shapes = {stack: keys(__import__("yaml").safe_load(open(f"Pulumi.{stack}.yaml"))["config"]) for stack in STACKS}
    hub = {k for k in shapes["wsp"] if k.startswith(f".{K}gitops")}
    assert hub and shapes["dev"] == shapes["wsp"] - hub
    assert shapes["prd"] - shapes["dev"] == {f".{K}protect"}
    assert [stack for stack in STACKS if load_stack(stack)[0].config.layers.gitops] == ["wsp"]


def _set(path: str, value):
    """An edit that sets config[`contest-k8s:a`][b][c] = value for path 'a.b.c'."""
    top, *rest = path.split(".")

    def edit(config: dict) -> None:
        node = config
        key = K + top
        for part in rest:
            node = node[key]
            key = part
        node[key] = value

    return edit


def _delete(path: str):
    top, *rest = path.split(".")

    def edit(config: dict) -> None:
        node, key = config, K + top
        for part in rest:
            node, key = node[key], part
        del node[key]

    return edit


def _both(*edits):
    def edit(config: dict) -> None:
        for e in edits:
            e(config)
    return edit


# (id, edit, key named in the error, text the error must contain)
BAD_CONFIGS = [
    ("malformed-cidr", _set("network.privateCidr", "10.1.0.0/33"), "network.privateCidr", "IPv4 network"),
    ("cidr-host-bits", _set("network.privateCidr", "10.1.0.5/24"), "network.privateCidr", "no host bits"),
    ("overlapping-cidrs", _set("kubernetes.podCidr", "10.1.0.0/16"), "kubernetes.podCidr", "does not overlap network.privateCidr"),
    ("private-pool-overlaps-nodes", _set("metallb.privatePool", "10.1.0.128/25"), "metallb.privatePool", "does not overlap"),
    ("pool-outside-block", _set("metallb.globalPool", {"first": 16, "last": 40}), "metallb.globalPool", "inside the usable hosts 4-30"),
    ("pool-overlaps-vm", _set("metallb.globalPool", {"first": 9, "last": 30}), "metallb.globalPool", "controlPlanes.nodes.cp-3"),
    ("pool-reversed", _set("metallb.globalPool", {"first": 30, "last": 16}), "metallb.globalPool", "first <= last"),
    ("block-too-small", _both(_set("network.globalPrefixLength", 28),
                              _set("controlPlanes.nodes", {f"cp-{i}": 6 + i for i in range(1, 10)})),
     "network.globalPrefixLength", "room for 13 addresses"),
    ("pool-outside-smaller-block", _set("network.globalPrefixLength", 28), "metallb.globalPool", "inside the usable hosts 4-14"),
    ("host-outside-block", _set("controlPlanes.nodes", {"cp-1": 7, "cp-2": 8, "cp-3": 31}), "controlPlanes.nodes.cp-3", "from 4 to 30"),
    ("host-reserved-gateway", _set("apiLoadBalancer.nodes", {"lb-1": 1, "lb-2": 5}), "apiLoadBalancer.nodes.lb-1", "from 4 to 30"),
    ("two-nodes-one-address", _set("apiLoadBalancer.vipHost", 7), "controlPlanes.nodes.cp-1", "already given to apiLoadBalancer.vipHost"),
    ("worker-outside-private", _set("workers.nodes", {"worker-1": 11, "worker-2": 12, "worker-3": 300}), "workers.nodes.worker-3", "from 1 to 254"),
    ("even-control-planes", _set("controlPlanes.nodes", {"cp-1": 7, "cp-2": 8}), "controlPlanes.nodes", "odd number"),
    ("zero-control-planes", _set("controlPlanes.nodes", {}), "controlPlanes.nodes", "odd number"),
    ("one-load-balancer", _set("apiLoadBalancer.nodes", {"lb-1": 4}), "apiLoadBalancer.nodes", "at least 2"),
    ("asn-zero", _set("router.asn", 0), "router.asn", "AS number from 1 to 4294967294"),
    ("asn-too-big", _set("metallb.asn", 4294967295), "metallb.asn", "AS number from 1 to 4294967294"),
    ("asn-equal", _set("metallb.asn", 65020), "metallb.asn", "different from router.asn"),
    ("unknown-zone", _set("zone", "tk9z"), "zone", "a Sakura zone"),
    ("cpu-not-offered", _set("workers.size", {"cpu": 7, "memoryGb": 32, "diskGb": 250}), "workers.size.cpu", "CPU count Sakura offers"),
    ("memory-not-offered", _set("controlPlanes.size", {"cpu": 4, "memoryGb": 7, "diskGb": 100}), "controlPlanes.size.memoryGb", "memory size"),
    ("disk-not-offered", _set("router.size", {"cpu": 4, "memoryGb": 8, "diskGb": 50}), "router.size.diskGb", "SSD size"),
    ("data-disk-not-offered", _set("workers.dataDiskGb", 300), "workers.dataDiskGb", "SSD size"),
    ("bandwidth-not-offered", _set("network.bandwidthMbps", 123), "network.bandwidthMbps", "bandwidth"),
    ("k8s-version-two-parts", _set("kubernetes.version", "1.36"), "kubernetes.version", "1.x.y"),
    ("k8s-version-v-prefix", _set("kubernetes.version", "v1.36.3"), "kubernetes.version", "1.x.y"),
    ("k8s-version-major-2", _set("kubernetes.version", "2.0.0"), "kubernetes.version", "1.x.y"),
    ("duplicate-node-name", _set("workers.nodes", {"cp-1": 11, "worker-2": 12, "worker-3": 13}), "workers.nodes.cp-1", "unique node name"),
    ("node-named-router", _set("workers.nodes", {"router": 11, "worker-2": 12}), "workers.nodes.router", "unique node name"),
    ("node-name-not-dns", _set("workers.nodes", {"Worker_1": 11}), "workers.nodes.Worker_1", "DNS label"),
    ("typo-top-level", lambda c: c.__setitem__(K + "wrokers", c.pop(K + "workers")), "wrokers", "a known key (did you mean 'contest-k8s:workers'?)"),
    ("typo-nested", _set("workers.size", {"cpu": 8, "memoryGB": 32, "diskGb": 250}), "workers.size.memoryGB", "a known key (did you mean 'memoryGb'?): cpu, diskGb, memoryGb"),
    ("missing-required", _delete("router.globalHost"), "router.globalHost", "required"),
    ("wrong-type", _set("router.privateHost", "one"), "router.privateHost", "an integer"),
    ("bool-is-not-int", _set("router.privateHost", True), "router.privateHost", "an integer"),
    ("unknown-flavor", _set("router.flavor", "openwrt"), "router.flavor", "vyos, frr"),
    ("vyos-without-image", _set("router.flavor", "vyos"), "router.vyosImage", "archiveId or file"),
    ("vyos-two-images", _both(_set("router.flavor", "vyos"), _set("router.vyosImage", {"file": "x.qcow2", "archiveId": "113300000001"})),
     "router.vyosImage", "exactly one"),
    ("bad-archive-id", _set("router.vyosImage", {"archiveId": "abc"}), "router.vyosImage.archiveId", "12-digit"),
    ("no-operator-range", _set("access.operatorCidrs", []), "access.operatorCidrs", "at least one network"),
    ("operator-range-host-bits", _set("access.operatorCidrs", ["203.0.113.65/26"]), "access.operatorCidrs[0]", "no host bits"),
    ("access-missing", _delete("access"), "access", "a value (this key is required)"),
    ("public-port-ssh", _set("access.publicTcpPorts", [443, 22]), "access.publicTcpPorts[1]", "not SSH (22)"),
    ("public-port-twice", _set("access.publicTcpPorts", [443, 443]), "access.publicTcpPorts[1]", "a port listed once"),
    ("public-port-range", _set("access.publicTcpPorts", [70000]), "access.publicTcpPorts[0]", "a TCP port from 1 to 65535"),
    ("too-many-filter-rules", _set("access.operatorCidrs", [f"198.18.{i}.0/24" for i in range(12)]), "access", "at most 30 rules"),
    ("wireguard-key", _set("wireguard.venue.publicKey", "notakey="), "wireguard.venue.publicKey", "WireGuard key"),
    ("wireguard-venue-outside", _set("wireguard.venue.address", "10.254.0.1"), "wireguard.venue.address", "tunnel network"),
    ("wireguard-network-address", _set("wireguard.address", "10.255.0.0/24"), "wireguard.address", "host address"),
    ("venue-overlaps-cluster", _set("wireguard.venue.allowedIps", ["10.1.0.0/16"]), "wireguard.venue.allowedIps[0]", "does not overlap"),
    ("vrrp-id", _set("apiLoadBalancer.vrrp", {"virtualRouterId": 300}), "apiLoadBalancer.vrrp.virtualRouterId", "from 1 to 255"),
    ("bootstrap-node-unknown", _set("controlPlanes.bootstrapNode", "cp-9"), "controlPlanes.bootstrapNode", "one of controlPlanes.nodes"),
    ("kubernetes-without-edge", _set("layers", {"edge": False}), "layers.kubernetes", "layers.edge"),
    ("external-cluster-beside-kubeadm", _set("externalKubeconfig", {"secure": "v1:AAAA:BBBB"}), "externalKubeconfig",
     "unset while layers.kubernetes is true"),
    ("external-cluster-plain-text", _both(_set("layers", {"kubernetes": False, "addons": True}),
                                          _set("externalKubeconfig", "apiVersion: v1")), "externalKubeconfig", "a secret"),
    ("no-readiness-on-kubeadm-nodes", _set("kubernetes.awaitReadiness", False), "kubernetes.awaitReadiness",
     "unless externalKubeconfig names an API server without nodes"),
    ("external-cluster-awaited", _both(_set("layers", {"kubernetes": False, "addons": True}),
                                       _set("externalKubeconfig", {"secure": "v1:AAAA:BBBB"})), "kubernetes.awaitReadiness",
     "false with externalKubeconfig"),
    ("addons-without-a-cluster", _set("layers", {"kubernetes": False, "addons": True}), "layers.addons",
     "layers.kubernetes is true or externalKubeconfig is set"),
    ("plain-http-api", _set("sakuraApiRootUrl", "http://example.com/cloud/zone"), "sakuraApiRootUrl", "https://"),
    ("cluster-peer-ref", _set("wireguard.clusterPeers", {"dev": "dev"}), "wireguard.clusterPeers.dev", "organization/project/stack"),
    ("nic-names", _set("nodeNicNames", ["ens3"]), "nodeNicNames", "two distinct interface names"),
    ("nic-names-same", _set("nodeNicNames", ["ens3", "ens3"]), "nodeNicNames", "two distinct interface names"),
    ("node-os-debian", _set("nodeOs", "debian12"), "nodeOs", "ubuntu2404, ubuntu2204"),
    ("sandbox-with-ssh-layers", _set("zone", "tk1v"), "layers", "sandbox's VMs never boot"),
    ("not-a-mapping", _set("workers", [1, 2]), "workers", "a mapping"),
    ("unnamespaced-key", lambda c: c.__setitem__("zone", "is1b"), "zone", "namespaced key"),
]


@pytest.mark.parametrize("case, edit, key, text", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_refused_naming_file_key_and_expectation(tmp_path, case, edit, key, text):
    path = write_stack(tmp_path, "prd", edit)
    with pytest.raises(ConfigError) as caught:
        load_stack("prd", path)
    expected_key = key if case == "unnamespaced-key" else K + key
    problem = next((p for p in caught.value.problems if p.key == expected_key), None)
    assert problem is not None, f"no problem names {expected_key!r}:\n{caught.value}"
    line = f"{path}: {problem.key}: expected {problem.expected}; given {problem.given}"
    assert line in str(caught.value).splitlines()
    assert text in line, line


def test_every_problem_is_reported_at_once(tmp_path):
    path = write_stack(tmp_path, "prd", _both(_set("zone", "nowhere"), _set("router.asn", 0), _set("kubernetes.version", "1.x")))
    with pytest.raises(ConfigError) as caught:
        load_stack("prd", path)
    assert {p.key for p in caught.value.problems} == {K + "zone", K + "router.asn", K + "kubernetes.version"}


def test_duplicate_yaml_keys_are_refused(tmp_path):
    text = (tmp_path / "src.yaml")
    base = open("Pulumi.dev.yaml").read()
    text.write_text(base.replace("worker-3: 13}", "worker-3: 13, worker-1: 14}"))
    with pytest.raises(ConfigError, match="duplicate key 'worker-1'"):
        load_stack("dev", text)


def test_secret_keys_must_be_secure_values(tmp_path):
    path = write_stack(tmp_path, "dev", _set("sakuraAccessTokenSecret", "plaintext-secret"))
    with pytest.raises(ConfigError) as caught:
        load_stack("dev", path)
    message = str(caught.value)
    assert "sakuraAccessTokenSecret: expected a secret: set it with `pulumi config set --secret`" in message
    assert "plaintext-secret" not in message


def test_secure_values_are_read_as_secrets_and_never_shown(tmp_path):
    path = write_stack(tmp_path, "dev", _set("sakuraAccessTokenSecret", {"secure": "v1:AAAA:BBBB"}))
    raw, secret_keys = read_stack_file(path)
    assert secret_keys == {K + "sakuraAccessTokenSecret"}
    loaded, _, _ = load_stack("dev", path)
    assert isinstance(loaded.config.sakura_access_token_secret, Secret)
    assert "v1:AAAA" not in repr(loaded.config) and "<secret:" not in repr(loaded.config)


def test_engine_strings_are_decoded_like_pulumi_passes_them():
    raw, _ = read_stack_file(__import__("pathlib").Path("Pulumi.prd.yaml"))
    assert raw[K + "protect"] == "true" and raw[K + "zone"] == "is1b"
    loaded = load_config(raw, stack="prd", source="Pulumi.prd.yaml")
    assert loaded.config.protect is True
    assert loaded.config.network.private_cidr == IPv4Network("10.1.0.0/24")


def test_other_namespaces_are_left_alone():
    raw, _ = read_stack_file(__import__("pathlib").Path("Pulumi.dev.yaml"))
    raw["kubernetes:context"] = "whatever"
    assert load_config(raw, stack="dev", source="x").config.zone == "is1b"


# --------------------------------------------------------------------------- issue 15: every bad file refused cleanly

ED25519_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4 op@venue"
RSA_TYPE_IN_ED25519_LINE = "ssh-ed25519 " + base64.b64encode(b"\0\0\0\x07ssh-rsa" + b"\0\0\0\x01\x01" * 4).decode()
SECRET = "S3CRET-value-that-must-never-be-printed"
_VENUE = {"publicKey": "0N2kFo3dVs+m1ENR5q/I2m3+J95eaT+0M355QtTEIG8=", "address": "10.255.0.1", "allowedIps": ["172.16.0.0/16"]}


def _venue(**changes):
    return _set("wireguard.venue", {**_VENUE, **changes})


def _load_lb_nodes(count: int) -> dict[str, int]:
    return {f"lb-{i}": 3 + i for i in range(1, count + 1)}


# Values the stack file gives the right YAML type but that are still wrong (classes 2-4 of the issue).
# (id, edit, key named in the error, text the error must contain)
WRONG_VALUES = [
    # Patterns match the whole ASCII string: no trailing newline, no non-ASCII digits.
    ("version-trailing-newline", _set("kubernetes.version", "1.36.3\n"), "kubernetes.version", "1.x.y"),
    ("version-arabic-digits", _set("kubernetes.version", "1.\u0663\u0666.3"), "kubernetes.version", "1.x.y"),
    ("chart-version-fullwidth-digits", lambda c: c.update({K + "charts": {"versions": {"cilium": "\uff11.20.0"}}}),
     "charts.versions.cilium", "x.y.z"),
    # containerd 1.x is what Kubernetes stops supporting; the Docker revision is part of the pin.
    ("containerd-1x", _set("kubernetes.containerdVersion", "1.7.28-1"), "kubernetes.containerdVersion", "containerd.io 2.x"),
    ("containerd-no-revision", _set("kubernetes.containerdVersion", "2.2.1"), "kubernetes.containerdVersion", "x.y.z-n"),
    ("resize-batch-zero", _set("workers.resizeBatchSize", 0), "workers.resizeBatchSize", "a number of workers resized at once"),
    ("resize-batch-string", _set("workers.resizeBatchSize", "2"), "workers.resizeBatchSize", "int"),
    ("archive-id-newline", _set("router.vyosImage", {"archiveId": "113300000001\n"}), "router.vyosImage.archiveId", "12-digit"),
    ("node-name-newline", _set("workers.nodes", {"worker-1\n": 11, "worker-2": 12}), 'workers.nodes["worker-1\\n"]', "DNS label"),
    ("ssh-user-newline", _set("ssh", {"user": "ubuntu\n"}), "ssh.user", "Unix user name"),
    ("nic-name-newline", _set("nodeNicNames", ["ens3\n", "ens4"]), "nodeNicNames", "two distinct interface names"),
    # An integer or a boolean is never an address.
    ("int-as-network", _set("network.privateCidr", 167837696), "network.privateCidr", "an IPv4 network"),
    ("true-as-network", _set("kubernetes.podCidr", True), "kubernetes.podCidr", "an IPv4 network"),
    ("int-as-address", _venue(address=167837697), "wireguard.venue.address", "an IPv4 address"),
    ("true-as-interface", _set("wireguard.address", True), "wireguard.address", "an IPv4 interface"),
    ("netmask-form", _set("network.privateCidr", "10.1.0.0/255.255.255.0"), "network.privateCidr", "an IPv4 network"),
    # Special-purpose ranges are never cluster networks.
    ("loopback-private", _set("network.privateCidr", "127.1.0.0/24"), "network.privateCidr", "127.0.0.0/8 is loopback"),
    ("link-local-pods", _set("kubernetes.podCidr", "169.254.0.0/16"), "kubernetes.podCidr", "link-local"),
    ("multicast-services", _set("kubernetes.serviceCidr", "224.0.0.0/12"), "kubernetes.serviceCidr", "multicast"),
    ("this-network-pool", _set("metallb.privatePool", "0.0.0.0/24"), "metallb.privatePool", "'this network'"),
    ("class-e-venue", _venue(allowedIps=["240.0.0.0/8"]), "wireguard.venue.allowedIps[0]", "class E"),
    ("loopback-tunnel", _set("wireguard.address", "127.0.0.2/24"), "wireguard.address", "loopback"),
    # Pod and service subnets of sizes kubeadm accepts, with a /24 for every node.
    ("pod-cidr-too-small-for-nodes", _set("kubernetes.podCidr", "10.244.0.0/23"), "kubernetes.podCidr", "a /24 for each of the 6 nodes"),
    ("pod-cidr-smaller-than-node-mask", _set("kubernetes.podCidr", "10.244.0.0/25"), "kubernetes.podCidr", "from /8 to /24"),
    ("pod-cidr-too-large", _set("kubernetes.podCidr", "10.0.0.0/7"), "kubernetes.podCidr", "from /8 to /24"),
    ("service-cidr-too-large", _set("kubernetes.serviceCidr", "10.96.0.0/11"), "kubernetes.serviceCidr", "from /12 to /28"),
    ("service-cidr-too-small", _set("kubernetes.serviceCidr", "10.96.0.0/29"), "kubernetes.serviceCidr", "at least 10 addresses"),
    # Reserved AS numbers.
    ("asn-as-trans", _set("metallb.asn", 23456), "metallb.asn", "not reserved"),
    ("asn-65535", _set("router.asn", 65535), "router.asn", "not reserved"),
    ("asn-documentation", _set("router.asn", 64500), "router.asn", "not reserved"),
    ("asn-documentation-32bit", _set("metallb.asn", 65540), "metallb.asn", "not reserved"),
    ("asn-iana-reserved", _set("metallb.asn", 100000), "metallb.asn", "not reserved"),
    # WireGuard ports and tunnel addresses.
    ("wireguard-port-zero", _set("wireguard.listenPort", 0), "wireguard.listenPort", "a UDP port from 1 to 65535"),
    ("wireguard-port-too-big", _set("wireguard.listenPort", 65536), "wireguard.listenPort", "a UDP port from 1 to 65535"),
    ("venue-endpoint-port-zero", _venue(endpoint="venue.example.net:0"), "wireguard.venue.endpoint", "from 1 to 65535"),
    ("venue-endpoint-port-too-big", _venue(endpoint="venue.example.net:99999"), "wireguard.venue.endpoint", "from 1 to 65535"),
    ("venue-endpoint-no-host", _venue(endpoint=":51820"), "wireguard.venue.endpoint", "host:port"),
    ("venue-is-network-address", _venue(address="10.255.0.0"), "wireguard.venue.address", "not its network or broadcast"),
    ("venue-is-broadcast-address", _venue(address="10.255.0.255"), "wireguard.venue.address", "not its network or broadcast"),
    ("venue-is-the-router", _venue(address="10.255.0.11"), "wireguard.venue.address", "not wireguard.address"),
    ("tunnel-slash-32", _set("wireguard.address", "10.255.0.11/32"), "wireguard.address", "a host address"),
    # SSH authorized keys are keys.
    ("ssh-key-not-a-key", _set("ssh", {"authorizedKeys": ["hello"]}), "ssh.authorizedKeys[0]", "OpenSSH public key"),
    ("ssh-key-not-base64", _set("ssh", {"authorizedKeys": [ED25519_KEY, "ssh-ed25519 AAAA!!!"]}), "ssh.authorizedKeys[1]", "not base64"),
    ("ssh-key-type-mismatch", _set("ssh", {"authorizedKeys": [RSA_TYPE_IN_ED25519_LINE]}), "ssh.authorizedKeys[0]", "does not hold a key of that type"),
    ("ssh-key-two-lines", _set("ssh", {"authorizedKeys": [ED25519_KEY + "\n" + ED25519_KEY]}), "ssh.authorizedKeys[0]", "on one line"),
    ("ssh-key-dss", _set("ssh", {"authorizedKeys": ["ssh-dss AAAAB3NzaC1kc3MAAACBAP"]}), "ssh.authorizedKeys[0]", "OpenSSH public key"),
    # More load balancers than the VRRP priorities (150, 140, ... >= 1) allow.
    ("sixteen-load-balancers", _both(_set("network.globalPrefixLength", 26), _set("apiLoadBalancer.nodes", _load_lb_nodes(16))),
     "apiLoadBalancer.nodes", "at most 15 load balancer nodes"),
    # The API URL is parsed: https, or http only to an IPv4 literal on 127.0.0.0/8.
    ("http-loopback-lookalike", _set("sakuraApiRootUrl", "http://127.0.0.1.example.net/cloud/zone"), "sakuraApiRootUrl", "127.0.0.0/8"),
    ("http-localhost-name", _set("sakuraApiRootUrl", "http://localhost:8080/cloud/zone"), "sakuraApiRootUrl", "IPv4 address"),
    ("https-without-host", _set("sakuraApiRootUrl", "https:///cloud/zone"), "sakuraApiRootUrl", "host name"),
    ("url-with-query", _set("sakuraApiRootUrl", "https://secure.sakura.ad.jp/cloud/zone?x=1"), "sakuraApiRootUrl", "no query"),
    ("url-bad-port", _set("sakuraApiRootUrl", "https://secure.sakura.ad.jp:99999/cloud/zone"), "sakuraApiRootUrl", "https://"),
    ("url-other-scheme", _set("sakuraApiRootUrl", "ftp://secure.sakura.ad.jp/cloud/zone"), "sakuraApiRootUrl", "https://"),
    # Misspelled namespaces are named, with the key they were meant to be.
    ("namespace-underscore", lambda c: c.__setitem__("contest_k8s:protect", True), "contest_k8s:protect", "did you mean 'contest-k8s:protect'?"),
    ("namespace-no-dash", lambda c: c.__setitem__("contestk8s:kubernetes", {"version": "1.36.3"}), "contestk8s:kubernetes",
     "did you mean 'contest-k8s:kubernetes'?"),
    ("namespace-truncated", lambda c: c.__setitem__("contest-k8:zone", "is1b"), "contest-k8:zone", "did you mean 'contest-k8s:zone'?"),
    ("namespace-case", lambda c: c.__setitem__("Contest-K8s:protect", True), "Contest-K8s:protect", "contest-k8s namespace"),
    # Cluster peers: never this stack, never one stack twice.
    ("peer-is-itself", _set("wireguard.clusterPeers", {"prd": "organization/contest-k8s/prd"}), "wireguard.clusterPeers.prd",
     "does not peer with itself"),
    ("peer-twice", _set("wireguard.clusterPeers", {"a": "organization/contest-k8s/dev", "b": "organization/contest-k8s/dev"}),
     "wireguard.clusterPeers.b", "not already peered as wireguard.clusterPeers.a"),
    ("peer-ref-path", _set("wireguard.clusterPeers", {"dev": "organization/contest-k8s/../dev"}), "wireguard.clusterPeers.dev",
     "organization/project/stack"),
    # Blamed on the key that is wrong.
    ("private-slash-31", _set("network.privateCidr", "10.1.0.0/31"), "network.privateCidr", "room for the router and 3 workers"),
    ("pool-too-big", _set("metallb.globalPool", {"first": 4, "last": 30}), "metallb.globalPool", "leaves out hosts given to VMs"),
]


@pytest.mark.parametrize("case, edit, key, text", WRONG_VALUES, ids=[c[0] for c in WRONG_VALUES])
def test_wrong_value_is_refused_naming_its_key(tmp_path, case, edit, key, text):
    path = write_stack(tmp_path, "prd", edit)
    problems = _problems(path)
    expected_key = key if ":" in key else K + key
    named = [p for p in problems if p.key == expected_key]
    assert named, f"no problem names {expected_key!r}: {problems}"
    assert any(text in p.expected for p in named), named


def _problems(path, stack: str = "prd") -> list:
    with pytest.raises(ConfigError) as caught:
        load_stack(stack, path)
    message = str(caught.value)
    assert "Traceback" not in message
    for line in message.splitlines()[1:]:
        assert line.startswith(f"{path}: ") and ": expected " in line and "; given " in line, line
    return caught.value.problems


PRD_TEXT = (PROJECT_ROOT / "Pulumi.prd.yaml").read_text()


def _text(old: str, new: str):
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)
    return edit


def _billion_laughs(_: str) -> str:
    lines = ['lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]
    return PRD_TEXT.replace("config:\n", "config:\n  contest-k8s:zone2: *l9\n", 1).replace("# Stack", "\n".join(lines) + "\n# Stack", 1)


# Stack files whose YAML itself is hostile or surprising (class 1, and YAML 1.1 surprises of class 3).
# (id, edit of the file's text (or bytes), key named, text the problem must contain)
BAD_FILES = [
    ("top-level-list", lambda t: "- config\n- 2\n", "(file)", "given a list"),
    ("top-level-scalar", lambda t: "just some words\n", "(file)", "given a single value"),
    ("top-level-number", lambda t: "42\n", "(file)", "given a single value"),
    ("empty-file", lambda t: "", "config", "given an empty file"),
    ("latin-1", lambda t: (t + "# caf\u00e9\n").encode("latin-1"), "(file)", "UTF-8"),
    ("utf-16", lambda t: t.encode("utf-16"), "(file)", "UTF-8"),
    ("binary", lambda t: bytes(range(256)) * 4, "(file)", "UTF-8"),
    ("control-character", _text("is1b", "is1b\x07"), "(file)", "printable characters"),
    ("not-yaml", _text("  contest-k8s:zone: is1b", "  contest-k8s:zone: [is1b"), "(file)", "valid YAML"),
    ("two-documents", lambda t: t + "---\nconfig: {}\n", "(file)", "valid YAML"),
    ("too-large", lambda t: t + "#" * (300 * 1024) + "\n", "(file)", "at most 256 KiB"),
    ("list-as-key", _text("worker-1: 11,", "[a, b]: 11,"), "contest-k8s:workers.nodes", "keys that are plain names"),
    ("mapping-as-key", _text("worker-1: 11,", "{a: b}: 11,"), "contest-k8s:workers.nodes", "keys that are plain names"),
    ("date-as-version", _text("version: 1.36.3", "version: 2026-01-01"), "contest-k8s:kubernetes.version", "quoted string"),
    ("binary-tag", _text("contest-k8s:zone: is1b", "contest-k8s:zone: !!binary aXMxYg=="), "contest-k8s:zone", "no YAML tag"),
    ("set-tag", _text("contest-k8s:zone: is1b", "contest-k8s:zone: is1b\n  contest-k8s:nodeNicNames: !!set {ens3, ens4}"),
     "contest-k8s:nodeNicNames", "a plain mapping"),
    ("python-tag", _text("contest-k8s:zone: is1b", "contest-k8s:zone: !!python/object/apply:os.system [echo hi]"),
     "contest-k8s:zone", "a plain list"),
    ("custom-tag", _text("contest-k8s:zone: is1b", "contest-k8s:zone: !vault is1b"), "contest-k8s:zone", "no YAML tag"),
    ("deep-nesting", _text("  contest-k8s:zone: is1b", "  contest-k8s:zone: is1b\n  contest-k8s:layers: " + "[" * 20 + "]" * 20),
     "contest-k8s:layers" + "[0]" * 14, "at most 16 levels"),
    ("very-deep-nesting", lambda t: t + "x: " + "[" * 5000 + "]" * 5000 + "\n", "(file)", "nesting deeper than 100 levels"),
    ("billion-laughs", _billion_laughs, "lol4", "at most 100000 values once aliases are expanded"),
    ("recursive-alias", _text("contest-k8s:zone: is1b", "contest-k8s:zone: is1b\n  contest-k8s:ssh: &s {authorizedKeys: [*s]}"),
     "contest-k8s:ssh.authorizedKeys[0]", "aliases that do not contain themselves"),
    ("merge-of-a-scalar", _text("contest-k8s:zone: is1b", "contest-k8s:zone: is1b\n  contest-k8s:ssh: {<<: 5}"),
     "contest-k8s:ssh", "<< followed by a mapping"),
    ("duplicate-key", _text("worker-3: 13}", "worker-3: 13, worker-1: 14}"), "contest-k8s:workers.nodes.worker-1", "each key once"),
    # YAML 1.1 surprises: names must be strings, numbers decimal, booleans true or false.
    ("node-named-no", _text("worker-1: 11", "no: 11"), "contest-k8s:workers.nodes.no", 'quotes, "no" (YAML 1.1 reads no as false)'),
    ("node-named-octal", _text("worker-1: 11", "020: 11"), "contest-k8s:workers.nodes.020", "reads 020 as the number 16"),
    ("node-named-on", _text("lb-1: 4", "on: 4"), "contest-k8s:apiLoadBalancer.nodes.on", "reads on as true"),
    ("node-named-null", _text("lb-1: 4", "~: 4"), 'contest-k8s:apiLoadBalancer.nodes["~"]', "reads ~ as null"),
    ("octal-host", _text("globalHost: 10", "globalHost: 010"), "contest-k8s:router.globalHost", "reads 010 as the number 8"),
    ("hex-host", _text("globalHost: 10", "globalHost: 0xA"), "contest-k8s:router.globalHost", "decimal number"),
    ("sexagesimal-host", _text("globalHost: 10", "globalHost: 1:30"), "contest-k8s:router.globalHost", "decimal number"),
    ("underscore-number", _text("asn: 65020", "asn: 65_020"), "contest-k8s:router.asn", "decimal number"),
    ("huge-number", _text("asn: 65020", "asn: " + "9" * 5000), "contest-k8s:router.asn", "at most 20 digits"),
    ("yes-as-boolean", _text("contest-k8s:protect: true", "contest-k8s:protect: yes"), "contest-k8s:protect", "true or false"),
    ("off-as-flavor", _text("flavor: frr", "flavor: off"), "contest-k8s:router.flavor", "true or false, or a quoted string"),
    ("infinity", _text("asn: 65020", "asn: .inf"), "contest-k8s:router.asn", "a decimal number"),
    # config: missing, misspelled or mistyped is one problem.
    ("config-misspelled", _text("config:", "confg:"), "config", "there is 'confg': did you mean config?"),
    ("config-missing", lambda t: "secretsprovider: passphrase\n", "config", "given nothing"),
    ("config-a-list", lambda t: "config:\n  - contest-k8s:zone\n", "config", "given a list"),
    ("config-empty", lambda t: "config:\n", "config", "given nothing"),
    ("unknown-top-level-key", lambda t: t + "environment2: x\n", "environment2", "a stack file key"),
]


@pytest.mark.parametrize("case, edit, key, text", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_file_is_refused_fast_naming_its_key(tmp_path, case, edit, key, text):
    path = tmp_path / "Pulumi.prd.yaml"
    content = edit(PRD_TEXT)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    started = time.monotonic()
    problems = _problems(path)
    assert time.monotonic() - started < 2, "hostile YAML must be refused fast"
    named = [p for p in problems if p.key == key]
    assert named, f"no problem names {key!r}: {problems}"
    assert any(text in f"{p.expected}; given {p.given}" for p in named), named


@pytest.mark.parametrize("case, edit, count", [
    ("config-misspelled", _text("config:", "confg:"), 1),
    ("config-a-list", lambda t: "config:\n  - contest-k8s:zone\n", 1),
    ("private-slash-32", _text("privateCidr: 10.1.0.0/24", "privateCidr: 10.1.0.0/32"), 1),
    ("all-keys-misspelled-namespace", lambda t: t.replace("contest-k8s:", "contest_k8s:"), PRD_TEXT.count("\n  contest-k8s:")),
    ("required-key-misspelled", _text("globalHost: 10", "globalHots: 10"), 1),
    ("pool-too-big-for-the-block", _text("globalPool: {first: 16, last: 30}", "globalPool: {first: 4, last: 30}"), 1),
])
def test_one_mistake_is_one_problem(tmp_path, case, edit, count):
    """A missing `config:`, a /32 private network, a misspelled namespace or key: one problem each, not one per key they hide."""
    path = tmp_path / "Pulumi.prd.yaml"
    path.write_text(edit(PRD_TEXT))
    problems = _problems(path)
    assert len(problems) == count, problems


def test_type_errors_and_rules_between_keys_are_reported_together(tmp_path):
    path = write_stack(tmp_path, "prd", _both(
        _set("router.privateHost", "one"),                      # type error
        _set("workers.size", {"cpu": 7, "memoryGb": 32, "diskGb": 250}),  # value check
        _set("apiLoadBalancer.vipHost", 7),                      # rule: host given twice
        _set("metallb.asn", 65020),                              # rule: eBGP needs two AS numbers
        _set("network.privateCidr", "nonsense"),                 # type error: the private-network rule is skipped
    ))
    keys = {p.key for p in _problems(path)}
    assert keys == {K + "router.privateHost", K + "workers.size.cpu", K + "controlPlanes.nodes.cp-1", K + "metallb.asn",
                    K + "network.privateCidr"}


def test_a_value_is_shown_as_written(tmp_path):
    path = write_stack(tmp_path, "prd", _set("kubernetes.podCidr", True))
    (problem,) = [p for p in _problems(path) if p.key == K + "kubernetes.podCidr"]
    assert problem.given == "true"


@pytest.mark.parametrize("edit", [
    _set("router.sakuraAccessToken", SECRET),
    _set("network.password", SECRET),
    lambda c: c.__setitem__(K + "router", [{"token": SECRET}]),
    lambda c: c.__setitem__(K + "sakuraAccessTokn", SECRET),
    lambda c: c.__setitem__("contest_k8s:sakuraAccessToken", SECRET),
    lambda c: c.__setitem__(K + "sakuraAccessToken", {"secure": 5, "x": SECRET}),
    _set("wireguard.venue", {**_VENUE, "privateKey": SECRET}),
], ids=["unknown-nested", "unknown-password", "inside-a-wrong-type", "misspelled-top-level", "misspelled-namespace",
        "not-a-secure-value", "venue-private-key"])
def test_a_value_under_a_secret_looking_key_is_never_printed(tmp_path, edit):
    path = write_stack(tmp_path, "prd", edit)
    with pytest.raises(ConfigError) as caught:
        load_stack("prd", path)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("line", [
    "contest-k8s:sakuraAccessToken: pw-9f3k: oops",
    "contest-k8s:sakuraAccessToken: [pw-9f3k",
    "contest-k8s:sakuraAccessToken: !!binary pw-9f3k",
    "contest-k8s:sakuraAccessToken: yes-pw-9f3k\t: x",
])
def test_a_secret_on_a_broken_line_is_never_printed(tmp_path, line):
    """A parse error says what and where, never the line (a short secret would fit in a quoted snippet)."""
    path = tmp_path / "Pulumi.prd.yaml"
    path.write_text(PRD_TEXT.replace("  contest-k8s:protect: true", "  " + line))
    with pytest.raises(ConfigError) as caught:
        load_stack("prd", path)
    assert "pw-9f3k" not in str(caught.value)


def test_merge_keys_work(tmp_path):
    path = tmp_path / "Pulumi.prd.yaml"
    path.write_text(PRD_TEXT.replace("    size: {cpu: 4, memoryGb: 8, diskGb: 100}", "    size: {<<: *small, diskGb: 100}")
                    .replace("    size: {cpu: 4, memoryGb: 8, diskGb: 40}\n  contest-k8s:apiLoadBalancer",
                             "    size: &small {cpu: 4, memoryGb: 8, diskGb: 40}\n  contest-k8s:apiLoadBalancer"))
    c = load_stack("prd", path)[0].config
    assert (c.control_planes.size.cpu, c.control_planes.size.memory_gb, c.control_planes.size.disk_gb) == (4, 8, 100)
    assert c == load_stack("prd")[0].config


@pytest.mark.parametrize("edit", [
    _set("ssh", {"authorizedKeys": [ED25519_KEY]}),
    _set("sakuraApiRootUrl", "http://127.0.0.1:8080/cloud/zone"),
    _set("sakuraApiRootUrl", "https://secure.sakura.ad.jp/cloud/zone/"),
    _both(_set("router.asn", 4200000000), _set("metallb.asn", 64512)),
    _venue(endpoint="198.51.100.7:51820"),
    lambda c: c.__setitem__("kubernetes:context", "venue"),
    lambda c: c.__setitem__("pulumi:tags", {"team": "infra"}),
    _both(_set("network.globalPrefixLength", 26), _set("apiLoadBalancer.nodes", {f"lb-{i}": 19 + i for i in range(1, 16)}),
          _set("apiLoadBalancer.vipHost", 40), _set("controlPlanes.nodes", {"cp-1": 41, "cp-2": 42, "cp-3": 43}),
          _set("metallb.globalPool", {"first": 50, "last": 60})),
    _set("kubernetes.podCidr", "10.244.0.0/21"),
], ids=["ssh-key", "http-fake-api", "https-trailing-slash", "private-asns", "venue-endpoint", "kubernetes-namespace",
        "pulumi-namespace", "fifteen-load-balancers", "pod-slash-21-for-six-nodes"])
def test_good_values_are_accepted(tmp_path, edit):
    load_stack("prd", write_stack(tmp_path, "prd", edit))


def _peer_files(tmp_path, peers: dict[str, str], **changes) -> Path:
    """prd peering with the given stacks, their stack files beside it (changed by `changes`: stack -> edit)."""
    for stack in ("dev", "wsp"):
        write_stack(tmp_path, stack, changes.get(stack))
    return write_stack(tmp_path, "prd", _both(_set("wireguard.clusterPeers", peers), changes.get("prd", lambda c: None)))


def test_cluster_peers_with_their_own_networks_are_accepted(tmp_path):
    path = _peer_files(tmp_path, {"dev": "organization/contest-k8s/dev", "wsp": "organization/contest-k8s/wsp"})
    assert set(load_stack("prd", path)[0].config.wireguard.cluster_peers) == {"dev", "wsp"}


@pytest.mark.parametrize("changes, key, text", [
    ({"dev": _set("network.privateCidr", "10.1.0.0/24")}, "dev", "Pulumi.dev.yaml has network.privateCidr 10.1.0.0/24, which overlaps network.privateCidr"),
    ({"dev": _set("metallb.privatePool", "10.1.1.0/24")}, "dev", "overlaps metallb.privatePool"),
    ({"dev": _set("wireguard.address", "10.255.0.11/24")}, "dev", "has wireguard.address 10.255.0.11/24 too"),
    ({"prd": _venue(address="10.255.0.12")}, "dev", "AllowedIPs do not overlap those of wireguard.venue"),
    ({"wsp": _set("network.privateCidr", "10.2.0.0/24")}, "wsp", "AllowedIPs do not overlap those of wireguard.clusterPeers.dev"),
    ({"dev": _both(_set("wireguard.address", "10.254.0.12/24"), _venue(address="10.254.0.1"))}, "dev",
     "a stack on this tunnel network (10.255.0.0/24)"),
], ids=["private-overlaps-ours", "pool-overlaps-pool", "same-tunnel-address", "tunnel-address-is-the-venue", "two-peers-overlap",
        "another-tunnel-network"])
def test_cluster_peer_whose_stack_file_overlaps_is_refused(tmp_path, changes, key, text):
    path = _peer_files(tmp_path, {"dev": "organization/contest-k8s/dev", "wsp": "organization/contest-k8s/wsp"}, **changes)
    named = [p for p in _problems(path) if p.key == f"{K}wireguard.clusterPeers.{key}"]
    assert named and text in named[0].expected, named


def test_a_section_with_one_bad_key_still_has_its_other_keys_checked(tmp_path):
    """A bad venue key makes the venue not fully known; its networks are still checked for overlaps."""
    path = write_stack(tmp_path, "prd", _venue(publicKey="not-a-key", allowedIps=["10.1.0.0/16"]))
    keys = {p.key for p in _problems(path)}
    assert {K + "wireguard.venue.publicKey", K + "wireguard.venue.allowedIps[0]"} <= keys


def test_an_external_cluster_takes_the_kubernetes_layers_without_readiness_waits(tmp_path):
    """The tests' control plane: VMs as always, Cilium and the add-ons through `externalKubeconfig`, nothing awaited."""
    path = write_stack(tmp_path, "dev", _both(_set("layers", {"edge": False, "apiLoadBalancer": False, "kubernetes": False,
                                                              "addons": True}),
                                              _set("externalKubeconfig", {"secure": "v1:AAAA:BBBB"}),
                                              _set("kubernetes", {"awaitReadiness": False})))
    c = load_stack("dev", path)[0].config
    assert c.external_kubeconfig is not None and "AAAA" not in repr(c.external_kubeconfig)
    assert c.layers.addons_on and not c.layers.kubernetes and c.kubernetes.await_readiness is False
