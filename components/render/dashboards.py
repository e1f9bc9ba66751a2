"""Grafana dashboards: every file of dashboards/ becomes its own ConfigMap, which Grafana's sidecar loads.

One ConfigMap per dashboard: the seeds kept every dashboard in one ConfigMap and it outgrew the 1 MiB an object
may hold (the API server refuses a ConfigMap whose data exceeds it). A dashboard too large for a ConfigMap is a
config error naming its file, found before anything is created; so is a file that is not a dashboard: JSON with a
title, a stable `uid` (Grafana keys a dashboard by it: without one each load makes a new dashboard) and a data-source
variable its panels use, so the same dashboard shows any cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..config import DNS_LABEL, ConfigError, Problem, Said

# What a ConfigMap's data may hold (the API server's limit, 1 MiB), less room for its name, labels and annotations.
MAX_DASHBOARD_BYTES = 1024 * 1024 - 16 * 1024
DIRECTORY = "dashboards"


@dataclass(frozen=True)
class Dashboard:
    name: str  # the file's name without .json: the ConfigMap's name and its key
    text: str


def problems(name: str, text: str) -> list[str]:
    """What is wrong with dashboard file `name` (empty: nothing)."""
    if not DNS_LABEL.fullmatch(name) or len(name) > 53:
        return ["a file name that makes a ConfigMap name: lower-case letters, digits and '-', at most 53, then .json"]
    size = len(text.encode())
    if size > MAX_DASHBOARD_BYTES:
        return [f"a dashboard of at most {MAX_DASHBOARD_BYTES} bytes, what one ConfigMap holds (it has {size}): split it, "
                "or drop what it repeats"]
    try:
        board = json.loads(text)
    except ValueError as e:
        return [f"a JSON document ({e})"]
    if not isinstance(board, dict):
        return ["a JSON object (a Grafana dashboard)"]
    found = []
    if not isinstance(board.get("uid"), str) or not board["uid"]:
        found.append("a fixed `uid` (Grafana keys the dashboard by it)")
    if not isinstance(board.get("title"), str) or not board["title"]:
        found.append("a `title`")
    variables = [v for v in (board.get("templating") or {}).get("list") or [] if isinstance(v, dict) and v.get("type") == "datasource"]
    if not variables:
        found.append("a data-source variable (templating.list, type datasource) for the panels to use")
    return found


def load(project: Path) -> tuple[Dashboard, ...]:
    """Every dashboards/*.json of `project`, in name order; ConfigError naming each file that cannot be one."""
    found = []
    errors = []
    uids: dict[str, str] = {}
    for path in sorted((project / DIRECTORY).glob("*.json")):
        key = f"{DIRECTORY}/{path.name}"
        text = path.read_text(encoding="utf-8")
        wrong = problems(path.stem, text)
        if not wrong:
            uid = json.loads(text)["uid"]
            if uid in uids:
                wrong = [f"a uid of its own ({uid!r} is also {uids[uid]}'s)"]
            uids[uid] = key
        errors += [Problem(key, Said(f"a file of {len(text.encode())} bytes"), expected) for expected in wrong]
        found.append(Dashboard(path.stem, text))
    if errors:
        raise ConfigError(DIRECTORY, errors)
    return tuple(found)


def config_map(dashboard: Dashboard, namespace: str, label: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"dashboard-{dashboard.name}", "namespace": namespace, "labels": {label: "1"}},
            "data": {f"{dashboard.name}.json": dashboard.text}}
