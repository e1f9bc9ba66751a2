"""Shared fixtures: stack files to edit, the program under mocks, and skips that say why."""

from __future__ import annotations

import base64
import copy
import os
import shutil
from pathlib import Path
from typing import Callable, Optional

import pytest
import yaml

from components.config import PROJECT, ConfigError
from components.offline import PROJECT_ROOT, ProgramRun, load_stack, run_program
from components.render.secrets import fill, placeholders

STACKS = ("prd", "dev", "wsp")

# A value of the right shape for every secret placeholder the renders use (see render.secrets).
FAKE_SECRETS = {
    "wireguard-private-key": base64.b64encode(bytes(range(32))).decode(),
    "bootstrap-token": "abcdef.0123456789abcdef",
    "certificate-key": "0f" * 32,
    "kubernetes-ca-key": "-----BEGIN PRIVATE KEY-----\nZmFrZQ==\n-----END PRIVATE KEY-----",
    "admin-kubeconfig": "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []",
    "venue-private-key": base64.b64encode(bytes(range(32, 64))).decode(),
    "acme-staging-account-key": "-----BEGIN PRIVATE KEY-----\nZmFrZSBzdGFnaW5n\n-----END PRIVATE KEY-----\n",
    "acme-production-account-key": "-----BEGIN PRIVATE KEY-----\nZmFrZSBwcm9kdWN0aW9u\n-----END PRIVATE KEY-----\n",
    "argocd-github-client-secret": "0123456789abcdef0123456789abcdef01234567",
    "argocd-slack-token": "xoxb-0000000000-0000000000000-fakefakefakefakefakefake",
    "argocd-token-prd": "eyJmYWtlIjoicHJkIn0.eyJzdWIiOiJhcmdvY2QtbWFuYWdlciJ9.ZmFrZQ",
    "argocd-token-dev": "eyJmYWtlIjoiZGV2In0.eyJzdWIiOiJhcmdvY2QtbWFuYWdlciJ9.ZmFrZQ",
    "slack-webhook-url": "https://hooks.slack.com/services/T00000000/B00000000/fakefakefakefakefakefake",
    "grafana-admin-password": "fake-grafana-admin-password-0000",
    "grafana-github-client-secret": "0123456789abcdef0123456789abcdef01234567",
    "grafana-database-password": "fake-database-password",
    "zabbix-api-token": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "zabbix-database-password": "fake-zabbix-database-password-00",
}


def filled(text: str) -> str:
    """A rendered text with its placeholders replaced by fake values of the right shape."""
    return fill(text, {name: FAKE_SECRETS[name] for name in placeholders(text)})


def filled_objects(text: str) -> list[dict]:
    """The Kubernetes objects of a rendered multi-document YAML file, each placeholder filled after parsing (a fake key
    of several lines would break the YAML if filled into the text)."""
    def fill_in(value):
        if isinstance(value, dict):
            return {k: fill_in(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill_in(v) for v in value]
        return filled(value) if isinstance(value, str) else value
    return [fill_in(doc) for doc in yaml.safe_load_all(text) if doc]
SHARED = PROJECT_ROOT.parent / "shared"
UPSTREAM = SHARED / "upstream"


def stack_document(stack: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())


def set_key(path: str, value) -> Callable[[dict], None]:
    """A stack-file edit: config[`contest-k8s:a`][b][c] = value for path 'a.b.c', making the sections on the way."""
    top, *rest = path.split(".")

    def edit(config: dict) -> None:
        node, key = config, f"{PROJECT}:{top}"
        for part in rest:
            node, key = node.setdefault(key, {}), part
        node[key] = value
    return edit


def both(*edits: Callable[[dict], None]) -> Callable[[dict], None]:
    """A stack-file edit that makes `edits` in order."""
    def edit(config: dict) -> None:
        for e in edits:
            e(config)
    return edit


def write_stack(directory: Path, stack: str = "prd", edit: Optional[Callable[[dict], None]] = None) -> Path:
    """Copy a stack file's config, let `edit` change the `config` mapping, write it to DIRECTORY."""
    document = copy.deepcopy(stack_document(stack))
    if edit is not None:
        edit(document["config"])
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def refusal(directory: Path, stack: str, edit: Callable[[dict], None], key: str, text: str) -> str:
    """Load `stack` with `edit` made: it must be refused with a problem naming `key` (in the project's namespace) whose
    expectation or given value says `text`. The whole message, for what it must not show."""
    path = write_stack(directory, stack, edit)
    with pytest.raises(ConfigError) as caught:
        load_stack(stack, path)
    named = [p for p in caught.value.problems if p.key == f"{PROJECT}:{key}"]
    assert named and any(text in f"{p.expected}; given {p.given}" for p in named), str(caught.value)
    return str(caught.value)


def peer_only_with(config: dict, peer: str) -> None:
    """A stack-file edit: the stack's one cluster peer is `peer`, and the monitoring layer names no other (wsp's
    receiveFrom lists prd and dev, each of which must be a peer)."""
    config["contest-k8s:wireguard"]["clusterPeers"] = {peer: f"organization/contest-k8s/{peer}"}
    monitoring = config.get("contest-k8s:monitoring")
    if monitoring:
        for key in ("receiveFrom", "watch"):
            monitoring[key] = [name for name in monitoring.get(key) or [] if name == peer]


VYOS_IMAGE = {"file": "images/vyos-1.4-cloud-init.qcow2", "sizeGb": 20}


def use_vyos(config: dict) -> None:
    """A stack-file edit: the VyOS router from an uploaded image built with cloud-init, instead of the frr default."""
    config["contest-k8s:router"].update(flavor="vyos", vyosImage=dict(VYOS_IMAGE))


def run_stack(stack: str, config_file: Optional[Path] = None) -> ProgramRun:
    loaded, raw, secret_keys = load_stack(stack, config_file)
    return run_program(loaded, raw, secret_keys)


@pytest.fixture
def program() -> Callable[..., ProgramRun]:
    """`program(stack, config_file=None)` runs __main__.py under mocks and returns the recorded graph."""
    return run_stack


@pytest.fixture(scope="session")
def stack_runs() -> dict[str, ProgramRun]:
    """One run per committed stack, shared by the read-only graph tests."""
    return {stack: run_stack(stack) for stack in STACKS}


@pytest.fixture(scope="session")
def vyos_runs(tmp_path_factory) -> dict[str, ProgramRun]:
    """Every committed stack again with the VyOS router: the same plan through the other router flavor."""
    directory = tmp_path_factory.mktemp("vyos")
    runs = {}
    for stack in STACKS:
        (directory / stack).mkdir()
        runs[stack] = run_stack(stack, write_stack(directory / stack, stack, use_vyos))
    return runs


def require_shared() -> Path:
    if not UPSTREAM.is_dir():
        pytest.skip(f"needs ../shared/upstream beside the project ({UPSTREAM} not found)")
    return UPSTREAM


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} on PATH (.ci/run installs them)")


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces (CI runs as root)")


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """etcd and kube-apiserver v1.36.3 on 127.0.0.1 (tests/control_plane.py), shared by the tests that need one."""
    from .control_plane import ControlPlane, missing_tools

    missing = missing_tools()
    if missing:
        pytest.skip(f"needs .tools/bin/{missing[0]}: run scripts/toolchain.sh kubernetes")
    plane = ControlPlane(tmp_path_factory.mktemp("control-plane")).start()
    yield plane
    plane.stop()
