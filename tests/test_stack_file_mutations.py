"""Property: whatever a stack file holds, `python -m components render` exits 0 or 2, never with a traceback.

A seeded generator (no extra dependency, the same cases on every run) mutates the three real stack
files: keys deleted or misspelled, values of the wrong type or surprising scalars, namespaces renamed,
secret-looking keys added, hostile YAML (alias bombs, recursive aliases, tags, deep nesting, huge
documents), broken encodings and bytes. Every case goes through the real render command; on exit 2
nothing is written and at least one problem, in the promised `FILE: KEY: expected ...; given ...`
form, names a key of the file; no secret is ever echoed. A failure prints the case's seed and steps.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from components.__main__ import main
from components.config import PROJECT

from .conftest import STACKS, stack_document

SEED = 15
CASES = 120
SECRET = "S3CRET-f00d-never-echo"
K = PROJECT + ":"
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

Doc = dict
Step = Callable[[random.Random, Doc], str]


# --------------------------------------------------------------------------- mutations of the document


def _entries(doc: Doc) -> list[tuple[Any, Any]]:
    """Every (container, key) under `config`, at any depth."""
    found: list[tuple[Any, Any]] = []
    stack: list[Any] = [doc["config"]] if isinstance(doc.get("config"), (dict, list)) else []
    while stack:
        container = stack.pop()
        keys = list(container) if isinstance(container, dict) else list(range(len(container)))
        for key in keys:
            found.append((container, key))
            if isinstance(container[key], (dict, list)):
                stack.append(container[key])
    return found


def _pick(rng: random.Random, doc: Doc) -> tuple[Any, Any] | None:
    entries = _entries(doc)
    return rng.choice(entries) if entries else None


def delete_key(rng: random.Random, doc: Doc) -> str:
    picked = _pick(rng, doc)
    if picked is None:
        return "nothing to delete"
    container, key = picked
    del container[key]
    return f"delete {key!r}"


TYPE_SWAPS = [17, "seventeen", True, False, None, [], {}, [1, "a"], {"a": 1}, 1.5, -3, 2 ** 70]


def swap_type(rng: random.Random, doc: Doc) -> str:
    picked = _pick(rng, doc)
    if picked is None:
        return "nothing to swap"
    container, key = picked
    value = rng.choice([v for v in TYPE_SWAPS if type(v) is not type(container[key])])
    container[key] = copy.deepcopy(value)
    return f"{key!r} = {value!r}"


WRONG_SCALARS = [
    "", " ", "no", "yes", "020", "0x10", "1:30", "1_000", "-1", "0", "65536", "4294967295", "23456",
    "\u0661\u0662", "1.36.3\n", "worker-1\n", "a" * 300, "10.1.0.0/33", "10.1.0.5/24", "127.0.0.0/8",
    "0.0.0.0/0", "224.0.0.0/4", "255.255.255.255", "10.1.0.0/31", "10.96.0.0/8", "10.244.0.0/28",
    "http://127.0.0.1.example.net/", "https://user:pw@example.net/", "javascript:alert(1)", "../../etc",
    "ssh-ed25519 AAAA", "v1.36.3", "2026-01-01", "\u00e9t\u00e9", "\U0001f600", "${HOME}", "$(reboot)",
    0, -1, 65535, 65536, 4294967295, 23456, 2 ** 63, True,
]


def wrong_scalar(rng: random.Random, doc: Doc) -> str:
    picked = _pick(rng, doc)
    if picked is None:
        return "no scalar"
    container, key = picked
    value = rng.choice(WRONG_SCALARS)
    container[key] = value
    return f"{key!r} = {value!r}"


NAMESPACES = ["contest_k8s", "contestk8s", "contest-k8", "Contest-K8s", "contest", "kubernetes", "pulumi", "zzz", ""]


def rename_namespace(rng: random.Random, doc: Doc) -> str:
    config = doc.get("config")
    if not isinstance(config, dict) or not config:
        return "no config"
    key = rng.choice(sorted(config, key=str))
    name = str(key).split(":", 1)[-1]
    new = rng.choice(NAMESPACES + [None])
    config[name if new is None else f"{new}:{name}"] = config.pop(key)
    return f"rename {key!r}"


def misspell_key(rng: random.Random, doc: Doc) -> str:
    mappings = [(c, k) for c, k in _entries(doc) if isinstance(c, dict) and isinstance(k, str) and len(k) > 3]
    if not mappings:
        return "no key"
    container, key = rng.choice(mappings)
    i = rng.randrange(len(key))
    container[key[:i] + key[i + 1:]] = container.pop(key)
    return f"misspell {key!r}"


SECRET_NAMES = ["sakuraAccessToken", "password", "apiToken", "privateKey", "clientSecret", "passphrase"]


def add_secret(rng: random.Random, doc: Doc) -> str:
    value = rng.choice([SECRET, {"nested": SECRET}, [SECRET], {"secure": SECRET}, {"secure": 5, "v": SECRET}])
    maps = [c[k] for c, k in _entries(doc) if isinstance(c[k], dict)]
    where = rng.choice(["top", "misspelled", "nested"]) if maps else "top"
    config = doc.setdefault("config", {}) if isinstance(doc.get("config"), dict) else None
    if where == "nested" or config is None:
        target = rng.choice(maps) if maps else {}
        target[rng.choice(SECRET_NAMES)] = value
    elif where == "top":
        config[K + rng.choice(["sakuraAccessToken", "sakuraAccessTokenSecret"])] = value
    else:
        config[rng.choice(["contest-k8s:sakuraAccesToken", "contest_k8s:sakuraAccessToken", "contest-k8s:password"])] = value
    return f"secret at {where}"


def huge_document(rng: random.Random, doc: Doc) -> str:
    config = doc.get("config")
    if not isinstance(config, dict):
        return "no config"
    kind = rng.choice(["workers", "unknown-keys", "long-string"])
    if kind == "workers":
        config[K + "workers"] = {"nodes": {f"worker-{i}": i for i in range(1, 2001)}}
    elif kind == "unknown-keys":
        config[K + "network"] = {f"key{i}": i for i in range(2000)}
    else:
        config[K + "zone"] = "z" * 100_000
    return f"huge {kind}"


def deep_document(rng: random.Random, doc: Doc) -> str:
    picked = _pick(rng, doc)
    if picked is None:
        return "nothing to nest"
    container, key = picked
    depth = rng.choice([10, 17, 40, 90])
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value} if rng.random() < 0.5 else [value]
    container[key] = value
    return f"nest {depth}"


# Each step with how often it is drawn (huge documents are rare: they cost the most to parse).
DOC_STEPS: dict[Step, float] = {delete_key: 3, swap_type: 3, wrong_scalar: 3, rename_namespace: 2, misspell_key: 2, add_secret: 2,
                                huge_document: 0.4, deep_document: 1}


# --------------------------------------------------------------------------- mutations of the text


def _bomb(levels: int) -> str:
    lines = ['b0: &b0 ["ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha"]']
    lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _replace_scalar(rng: random.Random, text: str, new: str) -> str:
    spots = [m for m in re.finditer(r"(?<=: )[^\s{}\[\],#][^\n{}\[\],#]*?(?=\s*(#|,|}|\n))", text)]
    if not spots:
        return text
    m = rng.choice(spots)
    return text[:m.start()] + new + text[m.end():]


TEXT_STEPS: list[Callable[[random.Random, str], str | bytes]] = [
    lambda rng, t: _bomb(9) + t.replace("config:\n", "config:\n  contest-k8s:zone2: *b8\n", 1),
    lambda rng, t: t.replace("config:\n", "config:\n  contest-k8s:ssh: &s {authorizedKeys: [*s]}\n", 1),
    lambda rng, t: _replace_scalar(rng, t, rng.choice(["!!binary aGk=", "!!python/object/apply:os.system [id]", "!!set {a}",
                                                       "!custom x", "!!timestamp 2026-01-01", "!!float 1", "!!omap [a: 1]",
                                                       "=", "<<", "*undefined", "&a"])),
    lambda rng, t: _replace_scalar(rng, t, rng.choice(["no", "off", "Yes", "020", "0x1F", "1:30", "~", "2026-12-01", ".nan",
                                                       "9" * 400])),
    lambda rng, t: t.replace(rng.choice(["worker-1", "lb-1", "cp-2", "worker-3"]), rng.choice(["no", "020", "on", "null", "1.5", "[x]"])),
    lambda rng, t: t[: rng.randrange(len(t) + 1)],
    lambda rng, t: "".join(ch if rng.random() > 0.004 else rng.choice("\t:{}[]&*!|>'\"%@`\x00\x85\ufeff-") for ch in t),
    lambda rng, t: rng.choice([t.encode("utf-16"), (t + "# caf\u00e9\n").encode("latin-1"), b"\xef\xbb\xbf" + t.encode(),
                               bytes(rng.randrange(256) for _ in range(200))]),
    lambda rng, t: t + "#" * (260 * 1024),
    lambda rng, t: rng.choice(["", "- a\n- b\n", "42\n", "just text\n", "config:\n", "config: [1]\n", "confg:\n  contest-k8s:zone: is1b\n",
                               "{" * 3000 + "}" * 3000 + "\n", t + "---\nconfig: {}\n"]),
    lambda rng, t: t.replace("    size: {cpu: 4, memoryGb: 8, diskGb: 40}\n    vyosImage", "    size: &small {cpu: 4, memoryGb: 8, diskGb: 40}\n    vyosImage", 1)
                    .replace("    size: {cpu: 4, memoryGb: 8, diskGb: 40}", "    size: *small")
                    .replace("    size: {cpu: 4, memoryGb: 8, diskGb: 100}", "    size: {<<: *small, diskGb: 100}"),
]


@functools.lru_cache(maxsize=1)
def cases() -> list[tuple[int, str, list[str], str | bytes]]:
    """(case number, stack, steps, file content), the same list on every run."""
    rng = random.Random(SEED)
    documents = {stack: stack_document(stack) for stack in STACKS}
    out = []
    for n in range(CASES):
        stack = rng.choice(STACKS)
        doc = copy.deepcopy(documents[stack])
        drawn = rng.choices(list(DOC_STEPS), weights=list(DOC_STEPS.values()), k=rng.choice([0, 1, 1, 1, 2, 3]))
        steps = [step(rng, doc) for step in drawn]
        text = yaml.dump(doc, Dumper=DUMPER, sort_keys=False, allow_unicode=rng.random() < 0.5)
        content: str | bytes = text
        if not steps or rng.random() < 0.35:
            i = rng.randrange(len(TEXT_STEPS))
            content = TEXT_STEPS[i](rng, text)
            steps.append(f"text step {i}")
        out.append((n, stack, steps, content))
    return out


# --------------------------------------------------------------------------- the property


PROBLEM = re.compile(r"(?P<key>.+?): expected (?P<expected>.*); given (?P<given>.*)")


def _check(case: tuple, path: Path, out: Path, code: int, stdout: str, stderr: str) -> None:
    n, stack, steps, content = case
    where = f"case {n} (seed {SEED}, {stack}, steps {steps})"
    assert code in (0, 2), f"{where}: exit {code}\n{stderr}"
    assert "Traceback" not in stderr, f"{where}:\n{stderr}"
    assert SECRET not in stdout + stderr, f"{where}: a secret was echoed\n{stderr}"
    if code == 0:
        assert (out / stack / "manifest.json").is_file(), where
        return
    assert not out.exists(), f"{where}: exit 2 but something was written"
    lines = stderr.splitlines()
    assert lines[0] == "error: invalid stack configuration", f"{where}:\n{stderr}"
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    keys = []
    for line in lines[1:]:
        assert line.startswith(f"{path}: "), f"{where}: {line!r}"
        match = PROBLEM.fullmatch(line[len(f"{path}: "):])
        assert match, f"{where}: {line!r} is not FILE: KEY: expected ...; given ..."
        keys.append(match["key"])
    assert keys, f"{where}: no problem named"

    def of_the_file(key: str) -> bool:
        root = re.split(r"[.\[]", key, maxsplit=1)[0] if not key.startswith("[") else json.JSONDecoder().raw_decode(key[1:])[0]
        return root in ("(file)", "config") or root.startswith(K) or root in text

    assert any(of_the_file(k) for k in keys), f"{where}: no problem names a key of the file: {keys}"


def test_mutated_stack_files_exit_0_or_2_cleanly(tmp_path):
    started = time.monotonic()
    counts = {0: 0, 2: 0}
    for case in cases():
        n, stack, steps, content = case
        path = tmp_path / f"case{n}" / f"Pulumi.{stack}.yaml"
        path.parent.mkdir()
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        out = tmp_path / f"case{n}" / "out"
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["render", stack, "--config", str(path), "--out", str(out)])
        _check(case, path, out, code, stdout.getvalue(), stderr.getvalue())
        counts[code] += 1
    elapsed = time.monotonic() - started
    print(f"{CASES} mutated stack files: {counts[0]} rendered, {counts[2]} refused, in {elapsed:.1f} s")
    assert counts[0] and counts[2], counts


# A handful through a real interpreter: the same promises at the process boundary.


def test_mutated_stack_files_through_the_command_line(tmp_path):
    chosen = {}
    for case in cases():
        kind = "bytes" if isinstance(case[3], bytes) else "secret" if any("secret" in s for s in case[2]) else \
            "bomb" if "text step 0" in case[2] else "other"
        chosen.setdefault(kind, case)
    for kind, case in sorted(chosen.items()):
        n, stack, steps, content = case
        path = tmp_path / f"case{n}" / f"Pulumi.{stack}.yaml"
        path.parent.mkdir()
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        out = tmp_path / f"case{n}" / "out"
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "components", "render", stack, "--config", str(path), "--out", str(out)],
                                cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=60,
                                env={**os.environ, "PYTHONHASHSEED": "0"})
        _check(case, path, out, result.returncode, result.stdout, result.stderr)
        assert time.monotonic() - started < 30, kind
    assert {"bytes", "secret", "bomb"} <= set(chosen), chosen.keys()


@pytest.mark.parametrize("levels", [9, 30])
def test_billion_laughs_is_refused_in_well_under_a_second(tmp_path, levels, capsys):
    path = tmp_path / "Pulumi.dev.yaml"
    text = (Path(__file__).resolve().parent.parent / "Pulumi.dev.yaml").read_text()
    path.write_text(_bomb(levels) + text.replace("config:\n", f"config:\n  contest-k8s:zone2: *b{levels - 1}\n", 1))
    started = time.monotonic()
    assert main(["render", "dev", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    assert time.monotonic() - started < 2
    assert "at most 100000 values once aliases are expanded" in capsys.readouterr().err
