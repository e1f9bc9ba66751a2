"""The stack config: the three stack files load, and every kind of bad value is refused by name."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from components.config import PROJECT, ConfigError, Secret, load_config
from components.offline import load_stack, read_stack_file

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
    assert c.router.flavor == "vyos"
    assert loaded.protect_stateful == (stack == "prd")


def test_stacks_differ_only_in_config_values():
    """prd, dev and wsp have the same keys; only values differ."""
    def keys(value, prefix=""):
        if isinstance(value, dict):
            return {k for key, v in value.items() for k in keys(v, f"{prefix}.{key}")} | {prefix}
        return {prefix}
    shapes = {stack: keys(__import__("yaml").safe_load(open(f"Pulumi.{stack}.yaml"))["config"]) for stack in STACKS}
    assert shapes["dev"] == shapes["wsp"]
    assert shapes["prd"] - shapes["dev"] == {f".{K}protect"}


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
    ("block-too-small", _set("network.globalPrefixLength", 28), "network.globalPrefixLength", "room for 22 addresses"),
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
    ("vyos-without-image", _delete("router.vyosImage"), "router.vyosImage", "archiveId or file"),
    ("vyos-two-images", _set("router.vyosImage", {"file": "x.qcow2", "archiveId": "113300000001"}), "router.vyosImage", "exactly one"),
    ("bad-archive-id", _set("router.vyosImage", {"archiveId": "abc"}), "router.vyosImage.archiveId", "12-digit"),
    ("wireguard-key", _set("wireguard.venue.publicKey", "notakey="), "wireguard.venue.publicKey", "WireGuard key"),
    ("wireguard-venue-outside", _set("wireguard.venue.address", "10.254.0.1"), "wireguard.venue.address", "tunnel network"),
    ("wireguard-network-address", _set("wireguard.address", "10.255.0.0/24"), "wireguard.address", "host address"),
    ("venue-overlaps-cluster", _set("wireguard.venue.allowedIps", ["10.1.0.0/16"]), "wireguard.venue.allowedIps[0]", "does not overlap"),
    ("vrrp-id", _set("apiLoadBalancer.vrrp", {"virtualRouterId": 300}), "apiLoadBalancer.vrrp.virtualRouterId", "from 1 to 255"),
    ("bootstrap-node-unknown", _set("controlPlanes.bootstrapNode", "cp-9"), "controlPlanes.bootstrapNode", "one of controlPlanes.nodes"),
    ("kubernetes-without-edge", _set("layers", {"edge": False}), "layers.kubernetes", "layers.edge"),
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
