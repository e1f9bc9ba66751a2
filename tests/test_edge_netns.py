"""The edge network for real: rendered configs run by the real daemons in namespaces the test makes.

Addresses are the plan's own (TEST-NET and private ranges) and exist only on veths inside these
namespaces. Every daemon is stopped by PID and every namespace deleted, whatever the outcome.
Measured times are printed (run pytest with -s to see them) and asserted against the issue's limits.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.config import PROJECT
from components.mocking import fake_random_bytes
from components.render.keepalived import check_script, notify_script
from components.render.secrets import fill
from components.render.wireguard import ClusterPeer, public_key, venue_conf

from .conftest import peer_only_with, require_root, require_tools, run_stack, write_stack
from .netns import Lab, wait_for

pytestmark = pytest.mark.netns
HELPERS = Path(__file__).parent / "helpers"


def report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n[measured] {line}")


@pytest.fixture
def workdir(tmp_path):
    tmp_path.chmod(0o755)
    return tmp_path


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=2))
            .sign(key, hashes.SHA256()))
    path = tmp_path_factory.mktemp("tls") / "apiserver.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    path.parent.chmod(0o755)
    path.chmod(0o644)
    return path


def artifact(run, path: str) -> str:
    return run.artifact(path)


def prefix_len(run) -> int:
    return int(run.outputs["routerBlock"].split("/")[1])


def api_lab(lab: Lab, run, tls_cert: Path, lbs: tuple[str, ...]) -> dict[str, subprocess.Popen]:
    """The global segment: load balancers, three control planes running fake apiservers, and a client."""
    nodes, plen = run.outputs["nodes"], prefix_len(run)
    lab.switch("sw")
    for name in lbs + ("cp-1", "cp-2", "cp-3"):
        lab.attach(name, "ens3", f"{nodes[name]}/{plen}", "sw")
    gateway = ipaddress.ip_network(run.outputs["routerBlock"]).network_address + 1
    lab.attach("client", "ens3", f"{gateway}/{plen}", "sw")
    return {cp: lab.start(cp, sys.executable, str(HELPERS / "fake_apiserver.py"), cp, str(tls_cert), log=f"{cp}.log")
            for cp in ("cp-1", "cp-2", "cp-3")}


def api_answer(lab: Lab, node: str, host: str, timeout: float) -> str:
    """What `GET /` from `node` to https://host:6443 answers (a fake API server's name), or ERR."""
    result = lab.exec(node, sys.executable, "-c", (
        "import http.client, ssl; c = ssl._create_unverified_context(); "
        f"h = http.client.HTTPSConnection('{host}', 6443, timeout={timeout}, context=c); h.request('GET', '/'); "
        "print(h.getresponse().read().decode())"), check=False)
    return result.stdout.strip() or "ERR"


def lb_routes(run, lb: str) -> list[tuple[str, str]]:
    """The (network, via) routes a load balancer's setup script adds."""
    return re.findall(r"- to: (\S+)\n\s+via: (\S+)", artifact(run, f"scripts/{lb}/setup-api-lb.sh"))


def backend_status(lab: Lab, lb: str) -> dict[str, str]:
    csv = lab.exec(lb, "curl", "-sf", "-m", "1", "http://127.0.0.1:8404/stats;csv").stdout
    return {row.split(",")[1]: row.split(",")[17] for row in csv.splitlines() if row.startswith("kube_apiservers,cp-")}


def probe(lab: Lab, host: str, target: str, seconds: float, out: Path) -> subprocess.Popen:
    return lab.start(host, sys.executable, str(HELPERS / "probe.py"), target, str(seconds), "0.05", str(out), log=out.name + ".log")


def read_probe(path: Path) -> list[tuple[float, str]]:
    return [(float(t), r) for t, r in (line.split(" ", 1) for line in path.read_text().splitlines())]


def test_haproxy_drops_a_dead_control_plane_within_2s(dev_run, tls_cert, workdir, capsys):
    require_root()
    require_tools("haproxy", "curl")
    with Lab("h", workdir) as lab:
        apiservers = api_lab(lab, dev_run, tls_cert, ("lb-1",))
        (workdir / "haproxy.cfg").write_text(artifact(dev_run, "haproxy/lb-1/haproxy.cfg"))
        lab.start("lb-1", "haproxy", "-db", "-f", str(workdir / "haproxy.cfg"), log="haproxy.log")
        assert wait_for(lambda: set(backend_status(lab, "lb-1").values()) == {"UP"}, 15), (workdir / "haproxy.log").read_text()
        client = probe(lab, "client", dev_run.outputs["nodes"]["lb-1"], 7.0, workdir / "probe.out")
        time.sleep(1.5)
        killed_at = time.time()
        lab.stop(apiservers["cp-2"])
        down_after = wait_for(lambda: backend_status(lab, "lb-1")["cp-2"].startswith("DOWN"), 5)
        client.wait(timeout=20)
        results = read_probe(workdir / "probe.out")
    assert down_after is not None and down_after <= 2.0, f"cp-2 still in rotation {down_after}s after it died"
    down_at = killed_at + down_after
    after = [(t, r) for t, r in results if t >= down_at]
    before = {r for t, r in results if t < killed_at}
    report(capsys, f"HAProxy: cp-2 killed -> DOWN in {down_after:.2f}s; client {len(results)} requests, "
                   f"{sum(r.startswith('ERR') for _, r in results)} errors in all, {sum(r.startswith('ERR') for _, r in after)} after DOWN")
    assert before == {"cp-1", "cp-2", "cp-3"}, before
    assert len(after) > 20 and not [r for _, r in after if r.startswith("ERR") or r == "cp-2"]


def test_keepalived_moves_the_vip_within_4s_and_keeps_it_there(dev_run, tls_cert, workdir, capsys):
    """A crashed master's VIP is on the standby within 4 s; when the old master comes back it does not take
    the VIP back (no pre-emption: a second move would reset every long watch through the VIP again)."""
    require_root()
    require_tools("haproxy", "keepalived", "curl")
    vip = dev_run.outputs["apiEndpoint"].split(":")[0]
    with Lab("v", workdir) as lab:
        api_lab(lab, dev_run, tls_cert, ("lb-1", "lb-2"))
        etc = workdir / "etc-keepalived"
        etc.mkdir(mode=0o755)
        (etc / "check_haproxy.sh").write_text(check_script())
        (etc / "check_haproxy.sh").chmod(0o755)
        pids = {}

        def start_keepalived(lb: str, attempt: int = 1) -> None:
            pids[lb] = pid = {k: workdir / f"{lb}-{k}-{attempt}.pid" for k in "prcb"}
            # its own mount namespace: the rendered /etc/keepalived/check_haproxy.sh exists for this daemon only
            command = (f"mount --bind {etc} /etc/keepalived && exec keepalived -n -l -D -G -P -f {etc / f'{lb}.conf'} "
                       f"-p {pid['p']} -r {pid['r']} -c {pid['c']} -b {pid['b']}")
            lab.start(lb, "sh", "-c", command, log=f"{lb}-keepalived-{attempt}.log")

        for lb in ("lb-1", "lb-2"):
            (workdir / f"{lb}-haproxy.cfg").write_text(artifact(dev_run, f"haproxy/{lb}/haproxy.cfg"))
            lab.start(lb, "haproxy", "-db", "-f", str(workdir / f"{lb}-haproxy.cfg"), log=f"{lb}-haproxy.log")
            conf = etc / f"{lb}.conf"
            # each daemon records its VRRP state in a file of its own (on a VM: /run/contest-k8s/vrrp-state, the resize gate's)
            (etc / f"notify-{lb}.sh").write_text(notify_script(str(workdir / f"{lb}-vrrp" / "state")))
            (etc / f"notify-{lb}.sh").chmod(0o755)
            conf.write_text(artifact(dev_run, f"keepalived/{lb}/keepalived.conf").replace(
                '"/etc/keepalived/notify_state.sh"', f'"/etc/keepalived/notify-{lb}.sh"'))
            start_keepalived(lb)

        def holds_vip(lb):
            return f" {vip}/" in lab.ip(lb, "-o", "addr", "show", "dev", "ens3")

        elected = wait_for(lambda: holds_vip("lb-1"), 15)
        assert elected is not None, (workdir / "lb-1-keepalived-1.log").read_text()
        assert not holds_vip("lb-2")

        def vrrp_state(lb):
            path = workdir / f"{lb}-vrrp" / "state"
            return path.read_text().strip() if path.exists() else None

        assert wait_for(lambda: (vrrp_state("lb-1"), vrrp_state("lb-2")) == ("MASTER", "BACKUP"), 5) is not None, \
            "the notify script records what the resize gate waits for"
        client = probe(lab, "client", vip, 8.0, workdir / "probe.out")
        time.sleep(1.0)
        # lb-1's keepalived crashes: both processes are killed, no goodbye advertisement is sent
        vrrp_child = int(pids["lb-1"]["r"].read_text())
        parent = int(pids["lb-1"]["p"].read_text())
        subprocess.run(["kill", "-STOP", str(parent)], check=True)
        subprocess.run(["kill", "-KILL", str(vrrp_child), str(parent)], check=True)
        moved = wait_for(lambda: holds_vip("lb-2"), 10)
        lab.ip("lb-1", "addr", "del", f"{vip}/{prefix_len(dev_run)}", "dev", "ens3")  # a crashed master keeps the VIP
        client.wait(timeout=20)
        results = read_probe(workdir / "probe.out")
        assert moved is not None, "the VIP never reached lb-2"
        # lb-1 comes back, with the higher priority: the VIP must stay on lb-2
        start_keepalived("lb-1", attempt=2)
        back = wait_for(lambda: "Entering BACKUP STATE" in (workdir / "lb-1-keepalived-2.log").read_text(), 15)
        settled = wait_for(lambda: (vrrp_state("lb-1"), vrrp_state("lb-2")) == ("BACKUP", "MASTER"), 5)
        stayed = []
        for _ in range(8):
            time.sleep(0.5)
            stayed.append(holds_vip("lb-2") and not holds_vip("lb-1"))
    tail = results[-20:]
    report(capsys, f"Keepalived: first election {elected:.2f}s; master crashed -> VIP on lb-2 after {moved:.2f}s; "
                   f"client {sum(r.startswith('ERR') for _, r in results)} errors of {len(results)}; lb-1 back as BACKUP after "
                   f"{back if back is None else round(back, 2)} s, VIP stayed on lb-2 for the next 4 s: {all(stayed)}")
    assert moved <= 4.0, f"VIP took {moved:.2f}s to move"
    assert not [r for _, r in tail if r.startswith("ERR")], tail
    assert back is not None and all(stayed), "the returning lb-1 took the VIP back"
    assert settled is not None, "lb-1 came back as BACKUP: the state its resize gate accepts"


@pytest.fixture(scope="module")
def dev_run():
    return run_stack("dev")


@pytest.fixture(scope="module")
def frr_dev(tmp_path_factory):
    """dev with the frr router, and a venue key pair whose public half is in the stack file."""
    venue_private = base64.b64encode(bytes(range(100, 132))).decode()
    directory = tmp_path_factory.mktemp("frr-dev")

    def edit(c):
        c[PROJECT + ":router"]["flavor"] = "frr"
        c[PROJECT + ":wireguard"]["venue"]["publicKey"] = public_key(venue_private)

    return run_stack("dev", write_stack(directory, "dev", edit)), venue_private


def test_wireguard_tunnel_between_venue_and_router(frr_dev, workdir, capsys):
    require_root()
    require_tools("wg", "wg-quick", "wireguard-go", "ping")
    run, venue_private = frr_dev
    peer = ClusterPeer.from_output(run.outputs["wireguard"])
    router_key = base64.b64encode(fake_random_bytes("dev", "wireguard-key", 32)).decode()
    router_conf = fill(artifact(run, "router/router/wg0.conf"), {"wireguard-private-key": router_key})
    venue = fill(venue_conf([peer]), {"venue-private-key": venue_private})
    nodes, plen = run.outputs["nodes"], prefix_len(run)
    router_private = f"{peer.routed_prefixes[0].network_address + 1}/{peer.routed_prefixes[0].prefixlen}"
    tag = f"{int(time.time() * 1000) % 100000:05d}"
    router_if, venue_if = f"wgr{tag}", f"wgv{tag}"
    files = {}
    for name, text in ((router_if, router_conf), (venue_if, venue)):
        files[name] = workdir / f"{name}.conf"
        files[name].write_text(text)
        files[name].chmod(0o600)
    with Lab("w", workdir) as lab:
        lab.switch("net")
        lab.attach("router", "ens3", f"{nodes['router']}/{plen}", "net")
        lab.switch("net2")
        lab.attach("router", "ens4", router_private, "net2")
        gateway = ipaddress.ip_network(run.outputs["routerBlock"]).network_address + 1
        lab.attach("venue", "ens3", f"{gateway}/{plen}", "net")
        up = []
        try:
            started = time.monotonic()
            for ns, name in (("router", router_if), ("venue", venue_if)):  # responder first
                lab.exec(ns, "wg-quick", "up", str(files[name]))
                up.append((ns, name))
            ping_tunnel = lab.exec("venue", "ping", "-c", "1", "-w", "6", str(peer.address.ip), check=False)
            first_ping = time.monotonic() - started
            ping_private = lab.exec("venue", "ping", "-c", "1", "-w", "6", router_private.split("/")[0], check=False)
            handshake = lab.exec("venue", "wg", "show", venue_if, "latest-handshakes").stdout
        finally:
            for ns, name in reversed(up):
                lab.exec(ns, "wg-quick", "down", str(files[name]), check=False)
    report(capsys, f"WireGuard: both ends up and first ping across in {first_ping:.2f}s")
    assert ping_tunnel.returncode == 0, ping_tunnel.stdout + ping_tunnel.stderr
    assert ping_private.returncode == 0, "the cluster's private network is routed through the tunnel"
    assert handshake.split()[1] != "0"


def test_bgp_ecmp_over_every_worker_and_failover_within_1s(frr_dev, workdir, capsys, request):
    require_root()
    require_tools("vtysh", "gobgpd", "gobgp")
    zebra, bgpd = Path("/usr/lib/frr/zebra"), Path("/usr/lib/frr/bgpd")
    if not (zebra.exists() and bgpd.exists()):
        pytest.skip("needs FRR's zebra and bgpd in /usr/lib/frr (.ci/run installs frr)")
    run, _ = frr_dev
    objects = {d["kind"]: d for d in yaml.safe_load_all(artifact(run, "kubernetes/metallb-bgp.yaml")) if d["kind"] != "IPAddressPool"}
    pool = next(d for d in yaml.safe_load_all(artifact(run, "kubernetes/metallb-bgp.yaml"))
                if d["kind"] == "IPAddressPool" and d["metadata"]["name"] == "global")
    service_ip = pool["spec"]["addresses"][0].split("-")[0]
    bgp_peer = objects["BGPPeer"]["spec"]
    nodes = run.outputs["nodes"]
    workers = {n: a for n, a in nodes.items() if n.startswith("worker-")}
    plen = ipaddress.ip_network(run.outputs["wireguard"]["routedPrefixes"][0]).prefixlen
    # FRR drops privileges to user frr, which cannot enter pytest's root-only tmp tree
    frr_dir = Path(tempfile.mkdtemp(prefix="contest-k8s-frr-"))
    request.addfinalizer(lambda: shutil.rmtree(frr_dir, ignore_errors=True))
    frr_dir.chmod(0o755)
    (frr_dir / "frr.conf").write_text(artifact(run, "router/router/frr.conf"))
    (frr_dir / "zebra.conf").write_text("")
    subprocess.run(["chown", "-R", "frr:frr", str(frr_dir)], check=True)
    speakers = {}
    with Lab("b", workdir) as lab:
        lab.switch("priv")
        lab.attach("router", "ens4", f"{bgp_peer['peerAddress']}/{plen}", "priv")
        for name, address in workers.items():
            lab.attach(name, "ens3", f"{address}/{plen}", "priv")
        common = ["-z", str(frr_dir / "zserv.api"), "--vty_socket", str(frr_dir), "-A", "127.0.0.1"]
        lab.start("router", str(zebra), "-f", str(frr_dir / "zebra.conf"), "-i", str(frr_dir / "zebra.pid"), *common,
                  log="zebra.log")
        assert wait_for(lambda: (frr_dir / "zserv.api").exists(), 10)
        lab.start("router", str(bgpd), "-f", str(frr_dir / "frr.conf"), "-i", str(frr_dir / "bgpd.pid"), *common, log="bgpd.log")
        started = time.monotonic()
        for name, address in workers.items():
            # each speaker is configured from the MetalLB BGPPeer object, as MetalLB would be
            toml = workdir / f"{name}.toml"
            toml.write_text(f"""[global.config]
  as = {bgp_peer['myASN']}
  router-id = "{address}"
  local-address-list = ["{address}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "{bgp_peer['peerAddress']}"
    peer-as = {bgp_peer['peerASN']}
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = {bgp_peer['holdTime'].rstrip('s')}
    keepalive-interval = {bgp_peer['keepaliveTime'].rstrip('s')}
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
""")
            speakers[name] = lab.start(name, "gobgpd", "-f", str(toml), "-p", "--api-hosts", "127.0.0.1:50051", "--pprof-disable",
                                       log=f"{name}-gobgpd.log")
            assert wait_for(lambda n=name: lab.exec(n, "timeout", "2", "gobgp", "global", "rib", "add", "-a", "ipv4",
                                                   f"{service_ip}/32", check=False).returncode == 0, 15)
        # a speaker that announces something outside the MetalLB pools must be ignored by the router
        lab.exec("worker-2", "timeout", "2", "gobgp", "global", "rib", "add", "-a", "ipv4", "10.99.0.0/24")

        def next_hops() -> int:
            return lab.ip("router", "route", "show", f"{service_ip}/32").count("nexthop via")

        converged = wait_for(lambda: next_hops() == 3, 40)
        route = lab.ip("router", "route", "show", f"{service_ip}/32")
        assert converged is not None, f"no 3-way ECMP route: {route!r}\n" + (workdir / "bgpd.log").read_text()[-2000:]
        total = time.monotonic() - started
        lab.stop(speakers["worker-1"])
        lost = wait_for(lambda: next_hops() == 2, 10, interval=0.01)
        leaked = lab.ip("router", "route", "show", "10.99.0.0/24")
    report(capsys, f"BGP: 3-next-hop ECMP route for {service_ip} {total:.2f}s after the speakers started; "
                   f"worker-1's speaker stopped -> 2 next hops after {lost:.2f}s")
    assert all(f"nexthop via {a} " in route for a in workers.values()), route
    assert lost is not None and lost <= 1.0, f"still 3 next hops {lost}s after a speaker died"
    assert leaked == "", "the router must not learn anything but MetalLB pool addresses"


def test_a_worker_reaches_the_api_endpoint_through_the_router(frr_dev, tls_cert, workdir, capsys):
    """The topology's routing, from rendered files: the worker's default route is the router, the router
    forwards (sysctl, nftables as rendered), the load balancer sends its replies back via the router
    (its rendered netplan routes). Without those routes the same request fails."""
    require_root()
    require_tools("haproxy", "nft", "sysctl")
    run, _ = frr_dev
    nodes, plen = run.outputs["nodes"], prefix_len(run)
    private = ipaddress.ip_network(run.outputs["wireguard"]["routedPrefixes"][0])
    router_private = f"{private.network_address + 1}/{private.prefixlen}"
    with Lab("r", workdir) as lab:
        lab.switch("glb")
        lab.switch("prv")
        lab.attach("router", "ens3", f"{nodes['router']}/{plen}", "glb")
        lab.attach("router", "ens4", router_private, "prv")
        lab.attach("lb-1", "ens3", f"{nodes['lb-1']}/{plen}", "glb")
        lab.attach("cp-1", "ens3", f"{nodes['cp-1']}/{plen}", "glb")
        lab.attach("worker-1", "ens3", f"{nodes['worker-1']}/{private.prefixlen}", "prv")
        lab.ip("worker-1", "route", "add", "default", "via", router_private.split("/")[0])
        for line in artifact(run, "router/router/apply-base.sh").split("60-contest-k8s-router.conf 0644 <<'CONTEST_K8S_EOF'; then\n")[1] \
                .split("CONTEST_K8S_EOF")[0].splitlines():
            if line and not line.startswith("#"):
                lab.exec("router", "sysctl", "-qw", line.replace(" = ", "="))
        (workdir / "nat.nft").write_text(artifact(run, "router/router/nftables.conf"))
        lab.exec("router", "nft", "-f", str(workdir / "nat.nft"))
        lab.start("cp-1", sys.executable, str(HELPERS / "fake_apiserver.py"), "cp-1", str(tls_cert), log="cp-1.log")
        (workdir / "haproxy.cfg").write_text(artifact(run, "haproxy/lb-1/haproxy.cfg"))
        lab.start("lb-1", "haproxy", "-db", "-f", str(workdir / "haproxy.cfg"), log="haproxy.log")
        assert wait_for(lambda: backend_status(lab, "lb-1").get("cp-1") == "UP", 15)
        without_routes = api_answer(lab, "worker-1", nodes["lb-1"], 2)
        for network, via in lb_routes(run, "lb-1"):
            lab.ip("lb-1", "route", "add", network, "via", via)
        with_routes = api_answer(lab, "worker-1", nodes["lb-1"], 2)
    report(capsys, f"routing: worker -> API endpoint without the LB's routes: {without_routes}; with them: {with_routes}")
    assert without_routes == "ERR"
    assert with_routes == "cp-1"


def _router_sysctls(run) -> list[str]:
    text = artifact(run, "router/router/apply-base.sh").split("60-contest-k8s-router.conf 0644 <<'CONTEST_K8S_EOF'; then\n")[1]
    return [line.replace(" = ", "=") for line in text.split("CONTEST_K8S_EOF")[0].splitlines() if line and not line.startswith("#")]


def test_another_cluster_reaches_the_api_vip_through_the_tunnel(tmp_path_factory, tls_cert, workdir, capsys):
    """Argo CD's path from wsp to dev's API: a wsp worker -> wsp's router -> WireGuard -> dev's router -> the VIP on
    dev's load balancer, from rendered files (both routers' wg0.conf, nftables.conf and sysctls; the LB's routes).
    Without wsp's masquerade toward the VIP the LB answers the worker's address through its default route, which has
    no way back, and the request fails; with it the LB answers wsp's tunnel address through dev's router."""
    require_root()
    require_tools("wg", "wg-quick", "wireguard-go", "nft", "sysctl")
    directory = tmp_path_factory.mktemp("peering")
    runs = {}
    for stack, peer in (("wsp", "dev"), ("dev", "wsp")):
        def edit(c, peer=peer):
            peer_only_with(c, peer)
        (directory / stack).mkdir()
        runs[stack] = run_stack(stack, write_stack(directory / stack, stack, edit))
    wsp, dev = runs["wsp"], runs["dev"]
    vip = dev.outputs["apiEndpoint"].split(":")[0]
    tag = f"{int(time.time() * 1000) % 10000:04d}"
    tunnels = {"wsp": f"wgw{tag}", "dev": f"wgd{tag}"}  # wireguard-go's sockets are per name, shared by namespaces

    def router_files(stack: str, run) -> tuple[Path, str]:
        key = base64.b64encode(fake_random_bytes(stack, "wireguard-key", 32)).decode()
        conf = workdir / f"{tunnels[stack]}.conf"
        conf.write_text(fill(artifact(run, "router/router/wg0.conf"), {"wireguard-private-key": key}))
        conf.chmod(0o600)
        return conf, artifact(run, "router/router/nftables.conf").replace('"wg0"', f'"{tunnels[stack]}"')

    files = {stack: router_files(stack, run) for stack, run in runs.items()}
    masquerade = re.compile(rf'^.*oifname "{tunnels["wsp"]}" ip daddr {re.escape(vip)}/32 masquerade.*\n', re.M)
    assert masquerade.search(files["wsp"][1]), files["wsp"][1]
    with Lab("p", workdir) as lab:
        for stack, run in runs.items():
            block = ipaddress.ip_network(run.outputs["routerBlock"])
            private = ipaddress.ip_network(run.outputs["wireguard"]["routedPrefixes"][0])
            lab.switch(f"{stack}g")
            lab.switch(f"{stack}p")
            lab.attach("inet", f"to{stack}", f"{block.network_address + 1}/{block.prefixlen}", f"{stack}g")
            router = f"{stack}r"
            lab.attach(router, "ens3", f"{run.outputs['nodes']['router']}/{block.prefixlen}", f"{stack}g")
            lab.attach(router, "ens4", f"{private.network_address + 1}/{private.prefixlen}", f"{stack}p")
            lab.ip(router, "route", "add", "default", "via", str(block.network_address + 1))
            for line in _router_sysctls(run):
                lab.exec(router, "sysctl", "-qw", line)
        lab.exec("inet", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        worker = wsp.outputs["nodes"]["worker-1"]
        wsp_private = ipaddress.ip_network(wsp.outputs["wireguard"]["routedPrefixes"][0])
        lab.attach("worker", "ens3", f"{worker}/{wsp_private.prefixlen}", "wspp")
        lab.ip("worker", "route", "add", "default", "via", str(wsp_private.network_address + 1))
        dev_block = ipaddress.ip_network(dev.outputs["routerBlock"])
        lab.attach("lb", "ens3", f"{dev.outputs['nodes']['lb-1']}/{dev_block.prefixlen}", "devg")
        lab.ip("lb", "addr", "add", f"{vip}/{dev_block.prefixlen}", "dev", "ens3")
        lab.ip("lb", "route", "add", "default", "via", str(dev_block.network_address + 1))
        for network, via in lb_routes(dev, "lb-1"):
            lab.ip("lb", "route", "add", network, "via", via)
        lab.start("lb", sys.executable, str(HELPERS / "fake_apiserver.py"), "dev-api", str(tls_cert), log="api.log")

        up = []
        try:
            for stack in ("dev", "wsp"):  # responder first
                conf, nft = files[stack]
                rules = masquerade.sub("", nft) if stack == "wsp" else nft
                (workdir / f"{stack}.nft").write_text(rules)
                lab.exec(f"{stack}r", "nft", "-f", str(workdir / f"{stack}.nft"))
                lab.exec(f"{stack}r", "wg-quick", "up", str(conf))
                up.append((f"{stack}r", conf))
            assert wait_for(lambda: lab.exec("worker", "ping", "-c", "1", "-w", "2", str(
                ipaddress.ip_interface(dev.outputs["wireguard"]["address"]).ip), check=False).returncode == 0, 15), \
                "the tunnel between the routers is up"
            route = lab.ip("wspr", "route", "get", vip)
            without = api_answer(lab, "worker", vip, 3)
            (workdir / "wsp.nft").write_text(files["wsp"][1])
            lab.exec("wspr", "nft", "-f", str(workdir / "wsp.nft"))
            started = time.monotonic()
            answer = api_answer(lab, "worker", vip, 3)
            took = time.monotonic() - started
        finally:
            for ns, conf in reversed(up):
                lab.exec(ns, "wg-quick", "down", str(conf), check=False)
    report(capsys, f"cluster peering: wsp worker -> dev's API VIP {vip} over the tunnel without the masquerade: {without}; "
                   f"with it: {answer} in {took:.2f}s")
    assert f"dev {tunnels['wsp']}" in route, f"wsp's router sends the VIP into the tunnel, not to the internet: {route}"
    assert without == "ERR"
    assert answer == "dev-api"
