"""The contest-k8s project as the real engine sees it, in a temporary directory, against the fake Sakura API.

Shared by the engine tests (tests/test_engine_program.py) and the bring-up benchmark (scripts/bring_up.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import yaml

from tests.conftest import stack_document
from tests.engine import Engine, project_venv

ROOT = Path(__file__).resolve().parent.parent
K = "contest-k8s:"
VM_LAYER_ONLY = {"edge": False, "apiLoadBalancer": False, "kubernetes": False}
# The fake API answers at once; the plugin's client polls and backs off accordingly (components/sakura/client.py).
FAST_TIMINGS = "requests_per_second=500,poll_interval=0.02,backoff_initial=0.02,backoff_cap=0.1,request_timeout=2,shutdown_timeout=2"


def program_project(directory: Path, stack: str, edit: Optional[Callable[[dict], None]] = None) -> Path:
    """The project as a user has it (Pulumi.yaml, __main__.py, components/, dashboards/, the virtualenv) with one stack file."""
    directory.mkdir(parents=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        (directory / name).write_text((ROOT / name).read_text())
    (directory / "components").symlink_to(ROOT / "components", target_is_directory=True)
    (directory / "dashboards").symlink_to(ROOT / "dashboards", target_is_directory=True)
    (directory / ".venv").symlink_to(project_venv(), target_is_directory=True)
    write_config(directory, stack, edit)
    return directory


def write_config(directory: Path, stack: str, edit: Optional[Callable[[dict], None]] = None) -> None:
    """(Re)write Pulumi.<stack>.yaml from the committed one, edited, keeping what the engine added (the salt)."""
    path = directory / f"Pulumi.{stack}.yaml"
    kept = {k: v for k, v in (yaml.safe_load(path.read_text()) if path.exists() else {}).items() if k != "config"}
    document = stack_document(stack)
    if edit is not None:
        edit(document["config"])
    path.write_text(yaml.safe_dump({**document, **kept}, sort_keys=False))


def engine_for(project: Path, workdir: Path, plugins=("random", "tls"), timings: str = FAST_TIMINGS, **env: str) -> Engine:
    return Engine(project, workdir, plugins=plugins, extra_env={"CONTEST_K8S_SAKURA_TIMINGS": timings, **env})


def on_fake(fake, layers: dict = VM_LAYER_ONLY) -> Callable[[dict], None]:
    def edit(config: dict) -> None:
        config[K + "sakuraApiRootUrl"] = fake.root_url
        config[K + "layers"] = dict(layers)
    return edit
