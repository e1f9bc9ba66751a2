"""The topology picture: `topology.svg` in every render and `python -m components diagram`.

The SVG is read as a person would read it, by its text: every VM name and address, the VIP, the
pools and every BGP neighbour of the plan are in it. Node and edge ids come from names
(`vm-worker-1`, `bgp-worker-1`), so a change of the plan shows as a change of ids.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from components.diagram import draw
from components.mocking import fake_block
from components.offline import PROJECT_ROOT, load_stack
from components.plan import GlobalBlock, Plan, build_plan
from components.render.topology import topology_dot

from .conftest import STACKS, require_tools, write_stack

SVG = "{http://www.w3.org/2000/svg}"
DOCS_PICTURE = PROJECT_ROOT / "docs" / "topology-prd.svg"


def cli(*args: str, seed: str = "0", env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": seed, **(env or {})}
    return subprocess.run([sys.executable, "-m", "components", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def rendered_svg(stack: str, out: Path, *extra: str, seed: str = "0") -> bytes:
    result = cli("render", stack, "--out", str(out), *extra, seed=seed)
    assert result.returncode == 0, result.stderr
    return (out / stack / "topology.svg").read_bytes()


def shapes(svg: bytes) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """Every node, edge and cluster of the picture: id -> (class, title, the lines of text it shows)."""
    found = {}
    for group in ET.fromstring(svg).iter(f"{SVG}g"):
        if group.get("class") in ("node", "edge", "cluster"):
            title = group.findtext(f"{SVG}title", default="")
            found[group.get("id")] = (group.get("class"), title, tuple(t.text or "" for t in group.iter(f"{SVG}text")))
    return found


def texts(svg: bytes) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


def plan_of(stack: str, config: Path | None = None) -> Plan:
    loaded, _, _ = load_stack(stack, config)
    return build_plan(loaded, GlobalBlock.assumed(fake_block(stack, loaded.config.network.global_prefix_length)))


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> Path:
    require_tools("dot")
    out = tmp_path_factory.mktemp("render")
    for stack in STACKS:
        rendered_svg(stack, out)
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_the_picture_shows_every_vm_address_the_vip_both_pools_and_every_bgp_neighbour(renders, stack):
    manifest = json.loads((renders / stack / "manifest.json").read_text())
    assert {"path": "topology.svg", "kind": "diagram"} in manifest["artifacts"]
    svg = (renders / stack / "topology.svg").read_bytes()
    found, words = shapes(svg), texts(svg)
    plan = plan_of(stack)
    for machine in plan.machines:
        assert machine.name in found[f"vm-{machine.name}"][2]
        for nic in machine.nics:
            assert any(str(nic.address.ip) in line for line in words), (machine.name, nic.address)
    assert f"{plan.api.vip.ip}:{plan.api.port}" in found["vip"][2]
    assert {p.name for p in plan.pools} == {"global", "private"}
    for pool in plan.pools:
        assert set(pool.addresses) <= set(found[f"pool-{pool.name}"][2])
    for lb in plan.api.load_balancers:
        assert found[f"vrrp-{lb.name}"][1] == f"vip->{lb.name}"
    assert f"{plan.router.flavor} · AS {plan.bgp.router_asn}" in found["vm-router"][2]
    for neighbor in plan.bgp.neighbors:
        assert found[f"bgp-{neighbor.name}"][:2] == ("edge", f"router->{neighbor.name}")
        assert {str(neighbor.address), f"worker · AS {plan.bgp.speaker_asn}"} <= set(found[f"vm-{neighbor.name}"][2])
    assert found["tunnel-venue"][1] == "wg-venue->router"
    assert "10.255.0.1" in found["wg-venue"][2] and "172.16.0.0/16" in found["wg-venue"][2]
    assert f"{stack} · zone is1b · layers: edge on, apiLoadBalancer on, kubernetes on, addons on" in words
    assert f"Gateway global: {plan.addons.global_gateway}" in found["pool-global"][2]
    assert f"Gateway private: {plan.addons.private_gateway}" in found["pool-private"][2]


def test_adding_worker_4_adds_exactly_its_node_and_its_session(renders, tmp_path):
    config = write_stack(tmp_path, "prd", lambda c: c["contest-k8s:workers"]["nodes"].update({"worker-4": 14}))
    before = shapes((renders / "prd" / "topology.svg").read_bytes())
    after = shapes(rendered_svg("prd", tmp_path / "out", "--config", str(config)))
    assert set(after) - set(before) == {"vm-worker-4", "bgp-worker-4"} and set(before) <= set(after)
    assert after["vm-worker-4"] == ("node", "worker-4", ("worker-4", "worker · AS 65021", "10.1.0.14"))
    assert after["bgp-worker-4"][:2] == ("edge", "router->worker-4")
    assert all(after[key][:2] == before[key][:2] and after[key][2] == before[key][2] for key in before)


def test_two_renders_and_the_diagram_command_give_the_same_bytes(renders, tmp_path):
    again = rendered_svg("prd", tmp_path / "again", seed="4242")
    assert again == (renders / "prd" / "topology.svg").read_bytes()
    result = cli("diagram", "prd", "--out", str(tmp_path / "alone.svg"), seed="7")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "alone.svg").read_bytes() == again


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_picture_draws_as_png_with_dot(tmp_path):
    require_tools("dot")
    result = cli("diagram", "prd", "--format", "png", "--out", str(tmp_path / "prd.png"))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    width, height = _png_size((tmp_path / "prd.png").read_bytes())
    # Readable in a PR comment (about 900 px wide): scaled down by at most a third, wider than tall.
    assert 600 <= width <= 1350 and 300 <= height < width, (width, height)


def test_the_svg_draws_as_png_with_another_renderer(renders, tmp_path):
    require_tools("rsvg-convert")
    result = subprocess.run(["rsvg-convert", "-f", "png", "-o", str(tmp_path / "prd.png"), str(renders / "prd" / "topology.svg")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert _png_size((tmp_path / "prd.png").read_bytes())[0] > 600


def test_without_dot_the_render_exits_2_and_writes_nothing(tmp_path):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    for args, wrote in ((("render", "prd", "--out", str(tmp_path / "out")), tmp_path / "out" / "prd"),
                        (("diagram", "prd", "--out", str(tmp_path / "prd.svg")), tmp_path / "prd.svg")):
        result = cli(*args, env={"PATH": str(empty)})
        assert result.returncode == 2, result.stderr
        assert "graphviz's dot is needed to draw topology.svg" in result.stderr and "Traceback" not in result.stderr
        assert not wrote.exists()


def test_the_diagram_command_refuses_a_bad_stack_name(tmp_path):
    result = cli("diagram", "../prd", "--out", str(tmp_path / "x.svg"))
    assert result.returncode == 2 and "STACK: expected a stack name that is a DNS label" in result.stderr
    assert not (tmp_path / "x.svg").exists()


def test_layers_that_are_off_are_drawn_grey_and_cluster_peers_are_named(tmp_path):
    def edit(c):
        c["contest-k8s:layers"] = {"edge": False, "kubernetes": False}
        c["contest-k8s:wireguard"]["clusterPeers"] = {"wsp": "organization/contest-k8s/wsp", "dev": "organization/contest-k8s/dev"}

    config = write_stack(tmp_path, "prd", edit)
    loaded, _, _ = load_stack("prd", config)
    text = topology_dot(plan_of("prd", config), loaded.config.layers, loaded.config.wireguard.cluster_peers)
    assert "layers: edge OFF, apiLoadBalancer on, kubernetes OFF, addons OFF" in text and "Gateway" not in text
    bgp = [line for line in text.splitlines() if 'id="bgp-' in line or 'id="tunnel-' in line]
    assert len(bgp) == 5 and all("style=dotted" in line for line in bgp)
    assert "cluster peers: dev, wsp</B><BR/>see wireguard.clusterPeers" in text
    assert not any("style=dotted" in line for line in text.splitlines() if 'id="vrrp-' in line)
    on = topology_dot(plan_of("prd"), load_stack("prd")[0].config.layers)
    assert "style=dotted" not in on and "cluster peers" not in on
    if shutil.which("dot"):
        assert "see wireguard.clusterPeers" in texts(draw(text))


def test_the_readme_shows_the_picture_of_prd_as_the_render_draws_it(renders):
    assert "docs/topology-prd.svg" in (PROJECT_ROOT / "README.md").read_text()
    # The same text (names, addresses, labels); positions may differ with the fonts of the machine that drew it.
    assert sorted(texts(DOCS_PICTURE.read_bytes())) == sorted(texts((renders / "prd" / "topology.svg").read_bytes())), \
        "docs/topology-prd.svg is not prd's picture any more: .venv/bin/python -m components diagram prd --out docs/topology-prd.svg"
