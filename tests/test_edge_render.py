"""Edge network files as rendered by the program, checked by the real tools, and the checks shown failing."""

from __future__ import annotations

import base64
import ipaddress
import json
import re

import pytest
import yaml

from components.mocking import fake_random_bytes
from components.render.keepalived import check_script, notify_script
from components.render.vyos import REJECTED
from components.render.wireguard import ClusterPeer, public_key, venue_conf

from .checks import tools
from .checks.schemas import crd_errors
from .checks.vyos_tree import ACCEPT, REJECT, CommandTree
from .conftest import (FAKE_SECRETS, STACKS, filled, peer_only_with, require_root, require_shared, require_tools, run_stack,
                       write_stack)



@pytest.fixture(scope="module")
def vyos_tree():
    return CommandTree(require_shared() / "vyos" / "command-tree.json")


def texts(run, *, kind=None, suffix=""):
    return [(a.path, text) for a, text in run.artifacts if (kind is None or a.kind == kind) and a.path.endswith(suffix)]


# --------------------------------------------------------------------------- HAProxy


@pytest.mark.parametrize("stack", STACKS)
def test_every_haproxy_cfg_passes_haproxy_c_and_lists_every_control_plane(stack_runs, stack):
    require_tools("haproxy")
    run = stack_runs[stack]
    control_planes = {n: a for n, a in run.outputs["nodes"].items() if n.startswith("cp-")}
    configs = texts(run, kind="haproxy")
    assert [p for p, _ in configs] == ["haproxy/lb-1/haproxy.cfg", "haproxy/lb-2/haproxy.cfg"]
    for path, text in configs:
        ok, output = tools.haproxy_check(text)
        assert ok, f"{path}: {output}"
        servers = dict(re.findall(r"^\s+server (\S+) (\S+):6443 check", text, re.M))
        assert servers == control_planes, path


def test_haproxy_check_rejects_broken_variants(stack_runs):
    require_tools("haproxy")
    text = dict(texts(stack_runs["dev"], kind="haproxy"))["haproxy/lb-1/haproxy.cfg"]
    for broken in (text.replace("balance roundrobin", "balance roundrobinx"), text.replace("check check-ssl", "chekc check-ssl"),
                   text.replace("timeout client 1h\n", "")):
        assert not tools.haproxy_check(broken)[0]


# --------------------------------------------------------------------------- Keepalived


@pytest.mark.parametrize("stack", STACKS)
def test_every_keepalived_conf_passes_keepalived_t(stack_runs, stack):
    require_root()
    require_tools("keepalived")
    configs = texts(stack_runs[stack], kind="keepalived")
    assert len(configs) == 2
    for path, text in configs:
        assert "nopreempt" in text and "unicast_peer" in text and "auth" not in text
        ok, output = tools.keepalived_check(filled(text), ("ens3",), {"check_haproxy.sh": check_script(), "notify_state.sh": notify_script()})
        assert ok, f"{path}: {output}"


def test_keepalived_check_rejects_broken_variants(stack_runs):
    require_root()
    require_tools("keepalived")
    text = filled(dict(texts(stack_runs["dev"], kind="keepalived"))["keepalived/lb-1/keepalived.conf"])
    etc = {"check_haproxy.sh": check_script()}
    assert tools.keepalived_check(text, ("ens3",), etc)[0]
    assert not tools.keepalived_check(text.replace("priority 150", "priority 300"), ("ens3",), etc)[0]
    assert not tools.keepalived_check(text.replace("virtual_router_id", "virtual_router_idx"), ("ens3",), etc)[0]
    assert not tools.keepalived_check(text, ("eth9",), etc)[0], "a NIC name that does not exist must fail"
    assert not tools.keepalived_check(text, ("ens3",), {})[0], "a missing check script must fail"


# --------------------------------------------------------------------------- FRR flavor: vtysh, nft


@pytest.mark.parametrize("stack", STACKS)
def test_frr_conf_passes_vtysh_c(stack_runs, stack):
    require_tools("vtysh")
    text = dict(texts(stack_runs[stack]))["router/router/frr.conf"]
    ok, output = tools.vtysh_check(text)
    assert ok, output
    assert not tools.vtysh_check(text.replace("maximum-paths", "maximum-pathz"))[0]
    assert not tools.vtysh_check(text.replace(" remote-as ", " remote-az "))[0]


@pytest.mark.parametrize("stack", STACKS)
def test_nftables_conf_passes_nft_c(stack_runs, stack):
    require_root()
    require_tools("nft")
    text = dict(texts(stack_runs[stack]))["router/router/nftables.conf"]
    ok, output = tools.nft_check(text)
    assert ok, output
    assert not tools.nft_check(text.replace("masquerade", "masquerad"))[0]


# --------------------------------------------------------------------------- shellcheck


def test_every_script_passes_shellcheck(stack_runs, vyos_runs):
    require_tools("shellcheck")
    scripts = [(f"{s}/{p}", t) for runs in (stack_runs, vyos_runs) for s in STACKS for p, t in texts(runs[s], kind="script")]
    assert len(scripts) >= 6 * len(STACKS)
    for path, text in scripts:
        ok, output = tools.shellcheck(text)
        assert ok, f"{path}:\n{output}"


def test_shellcheck_rejects_a_broken_script(stack_runs):
    require_tools("shellcheck")
    text = dict(texts(stack_runs["dev"], kind="script"))["scripts/lb-1/setup-api-lb.sh"]
    assert tools.shellcheck(text)[0]
    assert not tools.shellcheck(text + "for f in $(ls /etc/*.conf); do echo $f; done\n")[0]
    assert not tools.shellcheck(text.replace('"$tmp"', "$tmp"))[0]


# --------------------------------------------------------------------------- VyOS


def vyos_lines(run) -> list[str]:
    lines = []
    for part in ("base", "bgp"):
        commands = dict(texts(run))[f"router/router/{part}.vyos"].splitlines()
        script = dict(texts(run))[f"router/router/apply-{part}.sh"]
        assert [line.removesuffix(REJECTED) for line in script.splitlines() if line.startswith("set ")] == commands, \
            f"apply-{part}.sh must apply exactly the rendered commands"
        lines += commands
    return [filled(line) for line in lines]


@pytest.mark.parametrize("stack", STACKS)
def test_every_vyos_command_is_a_real_1_4_path_with_a_valid_value(vyos_runs, vyos_tree, stack):
    lines = vyos_lines(vyos_runs[stack])
    verdicts = [vyos_tree.check(line) for line in lines]
    assert [v for v in verdicts if v.result != ACCEPT] == []
    joined = "\n".join(lines)
    for needle in ("protocols bgp system-as '65020'", "remote-as '65021'", "ip enable-proxy-arp", "translation address 'masquerade'",
                   "outbound-interface name 'eth0'", "maximum-paths ebgp", "interfaces wireguard wg0 private-key",
                   "peer venue public-key"):
        assert needle in joined, needle
    assert len(re.findall(r"^set protocols bgp neighbor \S+ remote-as", joined, re.M)) == 3


def test_vyos_checker_rejects_misspelled_commands_and_bad_values(vyos_runs, vyos_tree):
    line = next(l for l in vyos_lines(vyos_runs["dev"]) if " remote-as " in l)
    assert vyos_tree.check(line).result == ACCEPT
    broken = [
        line.replace("neighbor", "neighbour"),
        line.replace("'65021'", "'abc'"),
        line.replace("'65021'", "'4294967295'"),
        "set protocols bgp 65020 neighbor 10.2.0.11 remote-as '65021'",
        "set nat source rule 100 outbound-interface 'eth0'",
        "set interfaces ethernet eth0 address '198.51.100.0/27'",
        "set interfaces wireguard wg0 peer venue endpoint '198.51.100.7:51820'",
        "set interfaces ethernet eth0 ip enable-proxy-arp 'true'",
    ]
    for variant in broken:
        assert vyos_tree.check(variant).result == REJECT, variant


def test_vyos_checker_matches_the_upstream_accept_and_reject_tables(vyos_tree):
    readme = (require_shared() / "vyos" / "README.md").read_text()
    key = base64.b64encode(bytes(range(32))).decode()
    accepted = readme[readme.index("Accepted (rows"):readme.index("Rejected:")]
    rejected = readme[readme.index("Rejected:"):readme.index("Two known quirks")]

    def lines(section):
        return [m.group(1).replace("'...'", f"'{key}'").replace("'…='", f"'{key}'")
                for m in re.finditer(r"^\| \d+ \| `(set [^`]*)` \|", section, re.M)]

    assert len(lines(accepted)) == 29 and len(lines(rejected)) == 31
    assert [l for l in lines(accepted) if vyos_tree.check(l).result != ACCEPT] == []
    assert [l for l in lines(rejected) if vyos_tree.check(l).result != REJECT] == []


# --------------------------------------------------------------------------- WireGuard keys and secrets


def _keys_in(run) -> list[str]:
    found = []
    for path, text in texts(run):
        text = filled(text)
        found += re.findall(r"(?:public-key|private-key) '([^']*)'", text)
        found += re.findall(r"^(?:PublicKey|PrivateKey) = (\S+)$", text, re.M)
        if path.endswith("peer.json"):
            found.append(json.loads(text)["publicKey"])
    return found


def test_every_wireguard_key_is_base64_of_32_bytes(stack_runs, vyos_runs):
    keys = [k for runs in (stack_runs, vyos_runs) for s in STACKS for k in _keys_in(runs[s])]
    keys += [stack_runs[s].outputs["wireguard"]["publicKey"] for s in STACKS]
    assert len(keys) >= 4 * len(STACKS)
    assert [k for k in keys if not tools.is_wireguard_key(k)] == []
    for broken in ("notakey", FAKE_SECRETS["wireguard-private-key"][:-2] + "==", base64.b64encode(bytes(31)).decode(), "A" * 44):
        assert not tools.is_wireguard_key(broken), broken


@pytest.mark.parametrize("stack", STACKS)
def test_public_key_is_x25519_of_the_secret_private_key(stack_runs, stack):
    run = stack_runs[stack]
    private = base64.b64encode(fake_random_bytes(stack, "wireguard-key", 32)).decode()
    assert run.outputs["wireguard"]["publicKey"] == public_key(private)
    assert "wireguard" not in run.secret_outputs
    everything = json.dumps(run.outputs) + "".join(text for _, text in run.artifacts)
    assert private not in everything
    config = run.named("router-config", "remote:Command")
    assert "stdin" in config.secret_inputs and private in config.inputs["stdin"]
    bgp = run.named("router-bgp", "remote:Command")
    assert "stdin" not in bgp.secret_inputs and "remote-as" in bgp.inputs["stdin"], "the BGP part is reviewable in a preview"
    assert run.named("wireguard-key", "RandomBytes").parent.endswith("EdgeRouter::edge")


def test_venue_config_from_renders_has_every_cluster(tmp_path, stack_runs):
    peers = [ClusterPeer.from_output(stack_runs[s].outputs["wireguard"]) for s in STACKS]
    text = venue_conf(peers)
    assert text.count("[Peer]") == 3 and "PrivateKey = <secret:venue-private-key>" in text and "Address = 10.255.0.1/24" in text
    for s in STACKS:
        assert stack_runs[s].outputs["wireguard"]["peerBlock"] in text
    with pytest.raises(ValueError, match="different venue tunnel addresses"):
        venue_conf([peers[0], ClusterPeer(**{**peers[1].__dict__, "venue_address": "10.255.0.2"})])


# --------------------------------------------------------------------------- MetalLB side of BGP


def metallb_objects(run) -> dict[str, dict]:
    docs = yaml.safe_load_all(dict(texts(run))["kubernetes/metallb-bgp.yaml"])
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


@pytest.mark.parametrize("stack", STACKS)
def test_metallb_objects_validate_against_the_crds(stack_runs, stack):
    crds = require_shared() / "metallb" / "crds"
    objects = list(metallb_objects(stack_runs[stack]).values())
    assert crd_errors(objects, crds) == []
    peer = next(o for o in objects if o["kind"] == "BGPPeer")
    typo = {**peer, "spec": {**{k: v for k, v in peer["spec"].items() if k != "peerASN"}, "peerAsn": 65020}}
    assert any("peerAsn" in e for e in crd_errors([typo], crds))


@pytest.mark.parametrize("stack", STACKS)
def test_both_sides_of_every_bgp_session_agree(stack_runs, vyos_runs, stack):
    objects = metallb_objects(stack_runs[stack])
    peer = objects["BGPPeer/edge-router"]["spec"]
    pools = [objects[f"IPAddressPool/{n}"]["spec"]["addresses"] for n in ("global", "private")]
    nodes = stack_runs[stack].outputs["nodes"]
    workers = sorted(a for n, a in nodes.items() if n.startswith("worker-"))

    vyos = "\n".join(vyos_lines(vyos_runs[stack]))
    assert re.search(rf"system-as '{peer['peerASN']}'", vyos)
    assert sorted(re.findall(rf"neighbor (\S+) remote-as '{peer['myASN']}'", vyos)) == workers
    assert re.search(rf"ethernet eth1 address '{re.escape(peer['peerAddress'])}/", vyos)
    assert set(re.findall(r"timers holdtime '(\d+)'", vyos)) == {peer["holdTime"].rstrip("s")}
    assert set(re.findall(r"timers keepalive '(\d+)'", vyos)) == {peer["keepaliveTime"].rstrip("s")}
    vyos_prefixes = re.findall(r"prefix-list METALLB-POOLS rule \d+ prefix '(\S+)'", vyos)

    frr = dict(texts(stack_runs[stack]))["router/router/frr.conf"]
    assert f"router bgp {peer['peerASN']}" in frr and f"remote-as {peer['myASN']}" in frr
    assert sorted(re.findall(r"neighbor (\d\S+) peer-group", frr)) == workers
    assert f"timers {peer['keepaliveTime'].rstrip('s')} {peer['holdTime'].rstrip('s')}" in frr
    frr_prefixes = re.findall(r"ip prefix-list METALLB-POOLS seq \d+ permit (\S+) le 32", frr)
    assert frr_prefixes == vyos_prefixes

    covered = [ipaddress.ip_network(p) for p in frr_prefixes]
    for addresses in pools:
        for entry in addresses:
            first, _, last = entry.partition("-")
            edge = [ipaddress.ip_address(first), ipaddress.ip_address(last)] if last else list(ipaddress.ip_network(first))[::255]
            assert all(any(a in n for n in covered) for a in edge), entry


def test_a_cluster_peer_whose_stack_does_not_exist_yet_is_skipped(program, tmp_path):
    """Bringing up wsp before prd: the missing stack is left out with a warning, the existing one is peered."""
    from .conftest import write_stack

    peers = {"dev": "organization/contest-k8s/dev", "later": "organization/contest-k8s/later", "wsp": "organization/contest-k8s/wsp"}
    run = program("prd", write_stack(tmp_path, "prd", lambda c: c["contest-k8s:wireguard"].update(clusterPeers=peers)))
    config = run.artifact("router/router/wg0.conf")
    dev = program("dev").outputs["wireguard"]
    assert f"# dev\nPublicKey = {dev['publicKey']}" in config
    assert "later" not in config


@pytest.mark.parametrize("stack", STACKS)
def test_the_vyos_seed_is_cloud_config_with_valid_commands_and_no_secret(vyos_runs, vyos_tree, stack):
    """The first boot of a VyOS image: address, route, SSH by key only, the keys and the firewall; nothing secret."""
    run = vyos_runs[stack]
    user_data = run.artifact("router/router/seed/user-data")
    assert user_data.startswith("#cloud-config\n")
    commands = yaml.safe_load(user_data)["vyos_config_commands"]
    assert [v for v in (vyos_tree.check(c) for c in commands) if v.result != ACCEPT] == []
    router = run.outputs["nodes"]["router"]
    for needle in (f"set interfaces ethernet eth0 address '{router}/27'", "set service ssh disable-password-authentication",
                   "set system login user vyos authentication public-keys contest-k8s type 'ssh-ed25519'",
                   "set firewall ipv4 input filter default-action 'drop'", "destination port '51820'"):
        assert any(c.startswith(needle) or needle in c for c in commands), needle
    assert "<secret:" not in user_data and "PRIVATE KEY" not in user_data
    assert yaml.safe_load(run.artifact("router/router/seed/meta-data"))["instance-id"] == f"contest-k8s-{stack}-router"
    base = run.artifact("router/router/base.vyos").splitlines()
    firewall = [c for c in commands if c.startswith("set firewall ")]
    assert firewall and all(c in base for c in firewall), "the base configuration keeps the firewall the router booted with"


def _peering(tmp_path, stack: str, peer: str, *edits):
    """`stack` peering with `peer` (whose committed stack file the mocks answer from, as its own run exports it)."""
    def edit(c):
        peer_only_with(c, peer)
        for more in edits:
            more(c)
    tmp_path.mkdir()
    return run_stack(stack, write_stack(tmp_path, stack, edit))


def test_a_cluster_peer_s_api_vip_goes_through_the_tunnel_from_the_router_s_tunnel_address(program, vyos_tree, tmp_path):
    """Argo CD in wsp reaches dev's API at its VIP through the tunnel: wsp's router routes the VIP into wg0 and sends
    it from its own tunnel address, which dev's load balancers route back through dev's router (the rendered netplan).
    The venue is not given the VIP."""
    from .conftest import use_vyos

    dev = program("dev")
    vip = dev.outputs["apiEndpoint"].split(":")[0]
    exported = dev.outputs["wireguard"]
    assert exported["apiAddress"] == vip
    assert f"{vip}/32" not in venue_conf([ClusterPeer.from_output(exported)]), "the venue routes the VIP to the internet"
    lb_routes = re.findall(r"- to: (\S+)\n\s+via: (\S+)", dev.artifact("scripts/lb-1/setup-api-lb.sh"))
    tunnel = ipaddress.ip_network(exported["address"], strict=False)
    assert any(ipaddress.ip_network(to) == tunnel for to, _ in lb_routes), ("dev's LBs route the tunnel network back", lb_routes)

    frr = _peering(tmp_path / "frr", "wsp", "dev")
    wg0 = frr.artifact("router/router/wg0.conf")
    allowed = re.search(r"\[Peer\]\n# dev\n.*?AllowedIPs = ([^\n]*)", wg0, re.S).group(1).split(", ")
    assert f"{vip}/32" in allowed and len(allowed) == 1 + len(exported["routedPrefixes"]) + 1
    nft = frr.artifact("router/router/nftables.conf")
    assert re.search(rf'oifname "wg0" ip daddr {re.escape(vip)}/32 masquerade', nft), nft

    vyos = _peering(tmp_path / "vyos", "wsp", "dev", use_vyos)
    lines = vyos_lines(vyos)
    assert [v for v in map(vyos_tree.check, lines) if v.result != ACCEPT] == []
    joined = "\n".join(lines)
    assert f"set protocols static route {vip}/32 interface wg0" in joined
    rule = re.search(rf"set nat source rule (\d+) destination address '{re.escape(vip)}/32'", joined)
    assert rule and f"set nat source rule {rule.group(1)} outbound-interface name 'wg0'" in joined
    assert f"set nat source rule {rule.group(1)} translation address 'masquerade'" in joined


def test_a_peer_stack_exported_before_the_api_address_is_peered_without_it(tmp_path):
    """A stack whose last update predates `apiAddress` is still a peer (its networks); its VIP comes with its next update."""
    dev = run_stack("dev")
    old = {k: v for k, v in dev.outputs["wireguard"].items() if k != "apiAddress"}
    peer = ClusterPeer.from_output(old).as_router_peer()
    assert peer.from_tunnel_address == () and [str(n) for n in peer.allowed_ips[1:]] == old["routedPrefixes"]
