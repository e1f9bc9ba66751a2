"""The packet filters and the nodes' firewall in network namespaces: allowed flows pass, forbidden ones are dropped.

One switch; every host reaches every other on-link. The control plane `cp` has the rendered
control-plane packet filter (emulated statelessly on its NIC, tests/checks/packet_filter_nft.py) and
the rendered node firewall; the worker `wk` has the node firewall only (it sits behind the router,
which filters). The others play the operators' network, the internet, another VM of the cluster and
a host at the venue behind the WireGuard tunnel.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .checks.packet_filter_nft import packet_filter_nft
from .conftest import require_root, require_tools, run_stack
from .netns import Lab, wait_for

UDP_SERVER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    _, peer = s.recvfrom(2048)
    s.sendto(b"ok\\n", peer)
"""
PROBE_SECONDS = 3  # a dropped flow costs this long; the probes run at once
OPERATOR, INTERNET, VENUE = "203.0.113.70", "198.18.0.5", "172.16.0.5"


@pytest.fixture(scope="module")
def prd():
    return run_stack("prd")


def _listen(lab: Lab, host: str, port: int, udp: bool = False) -> None:
    """A server answering `ok` on `port`, started and seen listening before the function returns."""
    if udp:  # one socket answering every datagram (socat's UDP fork misses datagrams that arrive together)
        lab.start(host, sys.executable, "-c", UDP_SERVER, str(port), log=f"{host}-{port}u.log")
    else:
        # it reads the client's line before it answers: closing a socket with unread data resets the connection
        lab.start(host, "socat", f"TCP-LISTEN:{port},fork,reuseaddr", "SYSTEM:head -n1 >/dev/null; echo ok", log=f"{host}-{port}.log")
    listening = wait_for(lambda: lab.exec(host, "ss", "-Hln", "-u" if udp else "-t", f"sport = :{port}").stdout.strip() != "", 10)
    assert listening is not None, f"socat did not listen on {host}:{port}"


def _reaches(lab: Lab, source: str, address: str, port: int, udp: bool = False) -> bool:
    target = f"UDP:{address}:{port}" if udp else f"TCP:{address}:{port},connect-timeout={PROBE_SECONDS}"
    result = lab.exec(source, "socat", f"-T{PROBE_SECONDS}", f"-t{PROBE_SECONDS}", "-", target, input="hello\n", check=False, timeout=30)
    return result.stdout.strip() == "ok"


FLOWS = {  # what: (from, to, port, udp, expected)
    "SSH from operators": ("op", "cp", 22, False, True),
    "SSH from the internet": ("net", "cp", 22, False, False),
    "SSH from the venue (not an operator range)": ("ven", "cp", 22, False, False),
    "API on a control plane from operators (only the load balancers serve it)": ("op", "cp", 6443, False, False),
    "API on a control plane from the cluster": ("peer", "cp", 6443, False, True),
    "kubelet from the internet": ("net", "cp", 10250, False, False),
    "kubelet from the cluster": ("peer", "cp", 10250, False, True),
    "VXLAN from the internet": ("net", "cp", 8472, True, False),
    "VXLAN from the cluster": ("peer", "cp", 8472, True, True),
    "VXLAN to a worker from the venue": ("ven", "wk", 8472, True, False),
    "VXLAN to a worker from the cluster": ("peer", "wk", 8472, True, True),
    "a new connection to an ephemeral port from the internet": ("net", "cp", 40000, False, False),
    "a new connection to an ephemeral port from the cluster": ("peer", "cp", 40000, False, True),
    "the VM's own connection out (its replies)": ("cp", "net", 80, False, True),
    "the VM's DNS query out (its answer)": ("cp", "net", 53, True, True),
}


def _flows(tmp_path, prd, filter_rules: list[dict], node_firewall: str, names) -> dict[str, bool]:
    """Which of the FLOWS `names` get through, with these rules in place."""
    nodes = prd.outputs["nodes"]
    addresses = {"cp": nodes["cp-1"], "peer": nodes["cp-2"], "wk": nodes["worker-1"], "op": OPERATOR, "net": INTERNET, "ven": VENUE}
    with Lab("f", tmp_path) as lab:
        lab.switch("sw")
        for host, address in addresses.items():
            lab.attach(host, "ens3", f"{address}/32", "sw")
            lab.ip(host, "route", "add", "default", "dev", "ens3")
        (tmp_path / "filter.nft").write_text(packet_filter_nft(filter_rules, "ens3"))
        (tmp_path / "nodes.nft").write_text(node_firewall)
        lab.exec("cp", "nft", "-f", str(tmp_path / "filter.nft"))
        for host in ("cp", "wk"):
            lab.exec(host, "nft", "-f", str(tmp_path / "nodes.nft"))
        for host, port, udp in sorted({(FLOWS[n][1], FLOWS[n][2], FLOWS[n][3]) for n in names}):
            _listen(lab, host, port, udp)
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            results = {name: pool.submit(_reaches, lab, FLOWS[name][0], addresses[FLOWS[name][1]], FLOWS[name][2], FLOWS[name][3])
                       for name in names}
            return {name: result.result() for name, result in results.items()}


def test_packet_filter_and_node_firewall_let_through_exactly_what_they_should(prd, tmp_path, capsys):
    require_root()
    require_tools("nft", "socat")
    filters = json.loads(prd.artifact("sakura/packet-filters.json"))
    started = time.monotonic()
    seen = _flows(tmp_path, prd, filters["control-plane"], prd.artifact("firewall/nodes.nft"), FLOWS)
    with capsys.disabled():
        print(f"\n[measured] firewall: {len(seen)} flows checked in {time.monotonic() - started:.1f} s")
    assert seen == {name: flow[4] for name, flow in FLOWS.items()}


@pytest.mark.parametrize("broken, flow", [
    ("filter without its final deny", "SSH from the internet"),
    ("filter without the reply rule", "the VM's own connection out (its replies)"),
    ("node firewall without the ephemeral-port rule", "a new connection to an ephemeral port from the internet"),
    ("node firewall without the VXLAN rule", "VXLAN to a worker from the venue"),
])
def test_each_rule_is_needed(prd, tmp_path, broken, flow):
    require_root()
    require_tools("nft", "socat")
    rules = json.loads(prd.artifact("sakura/packet-filters.json"))["control-plane"]
    node_firewall = prd.artifact("firewall/nodes.nft")
    if broken == "filter without its final deny":
        rules = rules[:-1]
    elif broken == "filter without the reply rule":
        rules = [r for r in rules if r["Description"] != "replies to connections the VM opened"]
    else:
        comment = "ephemeral ports: replies only" if "ephemeral" in broken else "VXLAN only within the cluster"
        node_firewall = "\n".join(line for line in node_firewall.splitlines() if comment not in line) + "\n"
    assert _flows(tmp_path, prd, rules, node_firewall, [flow]) == {flow: not FLOWS[flow][4]}
