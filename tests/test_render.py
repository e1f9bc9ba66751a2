"""The offline render: `python -m components render STACK` as a reviewer runs it."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.artifacts import KINDS
from components.offline import PROJECT_ROOT

from .conftest import STACKS, write_stack


def render(stack: str, out: Path, *extra: str, seed: str = "0") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run([sys.executable, "-m", "components", "render", stack, "--out", str(out), *extra],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("stack", STACKS)
def test_render_writes_every_artifact_and_a_manifest(tmp_path, stack):
    result = render(stack, tmp_path)
    assert result.returncode == 0, result.stderr
    target = tmp_path / stack
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["stack"] == stack
    paths = [a["path"] for a in manifest["artifacts"]]
    assert paths == sorted(paths) and len(paths) == len(set(paths))
    for entry in manifest["artifacts"]:
        assert entry["kind"] in KINDS
        assert (target / entry["path"]).is_file()
        assert ("chart" in entry) == ("version" in entry) == (entry["kind"] == "helm-values")
    assert set(tree(target)) == set(paths) | {"manifest.json"}


def test_render_is_byte_identical_whatever_the_hash_seed(tmp_path):
    for seed, out in (("1", tmp_path / "a"), ("4242", tmp_path / "b")):
        for stack in STACKS:
            assert render(stack, out, seed=seed).returncode == 0
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert not filecmp.dircmp(tmp_path / "a", tmp_path / "b").diff_files


def test_a_rerender_replaces_stale_files(tmp_path):
    (tmp_path / "dev" / "old").mkdir(parents=True)
    (tmp_path / "dev" / "old" / "stale.txt").write_text("from a previous render")
    assert render("dev", tmp_path).returncode == 0
    assert not (tmp_path / "dev" / "old").exists()


def test_bad_config_exits_2_names_the_key_and_writes_nothing(tmp_path):
    path = write_stack(tmp_path, "dev", lambda c: c["contest-k8s:workers"]["size"].update(cpu=7))
    out = tmp_path / "out"
    result = render("dev", out, "--config", str(path))
    assert result.returncode == 2
    assert f"{path}: contest-k8s:workers.size.cpu: expected a CPU count Sakura offers" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_missing_stack_file_exits_2(tmp_path):
    result = render("nosuch", tmp_path)
    assert result.returncode == 2 and "Pulumi.nosuch.yaml" in result.stderr and not (tmp_path / "nosuch").exists()


def test_secure_values_never_reach_the_render(tmp_path):
    ciphertext = "v1:c2VjcmV0bm9uY2U=:Y2lwaGVydGV4dHRoYXRtdXN0bm90bGVhaw=="
    path = write_stack(tmp_path, "dev", lambda c: c.update({"contest-k8s:sakuraAccessTokenSecret": {"secure": ciphertext},
                                                            "contest-k8s:sakuraAccessToken": {"secure": ciphertext}}))
    result = render("dev", tmp_path / "out", "--config", str(path))
    assert result.returncode == 0, result.stderr
    for name, content in tree(tmp_path / "out").items():
        assert ciphertext.encode() not in content, name
