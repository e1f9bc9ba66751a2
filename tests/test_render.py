"""The offline render: `python -m components render STACK` as a reviewer runs it."""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.__main__ import main
from components.artifacts import KINDS, Artifact
from components.offline import PROJECT_ROOT, OutputError, ProgramRun, write_render

from .conftest import STACKS, require_tools, write_stack


def render(stack: str, out: Path, *extra: str, seed: str = "0") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    result = subprocess.run([sys.executable, "-m", "components", "render", stack, "--out", str(out), *extra],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    if result.returncode == 2 and "graphviz's dot is needed" in result.stderr:
        pytest.skip("needs dot (Debian package graphviz) on PATH to draw topology.svg (.ci/run installs it)")
    return result


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
    assert render("dev", tmp_path).returncode == 0
    (tmp_path / "dev" / "old").mkdir()
    (tmp_path / "dev" / "old" / "stale.txt").write_text("from a previous render")
    assert render("dev", tmp_path).returncode == 0
    assert not (tmp_path / "dev" / "old").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev"], "no temporary directory is left behind"


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


# --------------------------------------------------------------------------- the render never harms the disk


def _victims(tmp_path: Path) -> dict[Path, bytes]:
    """Files the render must never touch: beside, above and inside the output directory."""
    files = {tmp_path / "precious.txt": b"above", tmp_path / "out" / "keep.txt": b"inside OUT",
             tmp_path / "elsewhere" / "data.txt": b"outside"}
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def _untouched(files: dict[Path, bytes]) -> bool:
    return all(path.read_bytes() == content for path, content in files.items())


@pytest.mark.parametrize("stack", ["..", ".", "", "/ABSOLUTE", "a/b", "dev/..", "Dev", "dev\n", "-dev", "x" * 64])
def test_a_stack_name_that_is_not_a_dns_label_is_refused(tmp_path, stack, capsys):
    files = _victims(tmp_path)
    stack = stack.replace("/ABSOLUTE", str(tmp_path / "elsewhere"))
    assert main(["render", "--config", "Pulumi.dev.yaml", "--out", str(tmp_path / "out"), "--", stack]) == 2
    err = capsys.readouterr().err
    assert "STACK: expected a stack name that is a DNS label" in err and "Traceback" not in err
    assert _untouched(files) and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keep.txt"]


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    out = tmp_path / "out.txt"
    out.write_text("not a directory")
    assert main(["render", "dev", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--out: expected a directory to write STACK/ in" in err and "Traceback" not in err
    assert out.read_text() == "not a directory"


@pytest.mark.parametrize("make", ["foreign-directory", "file", "symlink"])
def test_out_stack_that_is_not_an_earlier_render_is_left_alone(tmp_path, capsys, make):
    files = _victims(tmp_path)
    target = tmp_path / "out" / "dev"
    if make == "foreign-directory":
        target.mkdir()
        (target / "thesis.tex").write_text("years of work")
        files[target / "thesis.tex"] = b"years of work"
    elif make == "file":
        target.write_text("a file")
        files[target] = b"a file"
    else:
        target.symlink_to(tmp_path / "elsewhere")
    assert main(["render", "dev", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "which is not a render of dev" in err and "Traceback" not in err
    assert _untouched(files) and (make != "symlink" or target.is_symlink())


def test_a_failed_write_leaves_the_earlier_render_whole(tmp_path, capsys):
    require_tools("dot")
    assert main(["render", "dev", "--out", str(tmp_path)]) == 0
    before = tree(tmp_path / "dev")
    clash = ProgramRun(stack="dev", artifacts=[(Artifact("x", "script", "a"), "a"), (Artifact("x/y", "script", "b"), "b")])
    with pytest.raises(OutputError):
        write_render(clash, tmp_path)
    assert tree(tmp_path / "dev") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev"]


def test_bad_stack_name_and_output_exit_2_from_the_command_line(tmp_path):
    _victims(tmp_path)
    result = render("..", tmp_path / "out" / "sub", "--config", "Pulumi.dev.yaml")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (tmp_path / "out" / "keep.txt").exists() and (tmp_path / "precious.txt").exists()
