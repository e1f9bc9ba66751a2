"""The pinned charts as tests need them: default values (with their subcharts'), values schemas, CRD folders.

Defaults come from ../shared/upstream/<chart>/values.yaml; a subchart's (metallb's frr-k8s) from its folder in the
complete chart, ../shared/upstream/charts/<chart>-<version>/charts/<subchart>/, under its name or alias.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml

from components import charts

from ..conftest import UPSTREAM

CHARTS = UPSTREAM / "charts"

# Core kinds the layers make: no CRD to check them against here (the API server's own schema is the real-apiserver test's).
CORE_KINDS = frozenset({("v1", "Namespace"), ("v1", "Secret"), ("v1", "ConfigMap"), ("v1", "Service"), ("v1", "PersistentVolumeClaim"),
                        ("apps/v1", "Deployment"), ("v1", "ServiceAccount"), ("rbac.authorization.k8s.io/v1", "ClusterRole"),
                        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")})


@lru_cache(maxsize=None)
def stack_charts(stack: str) -> tuple[charts.Chart, ...]:
    """The charts a committed stack installs, in the table's order: the CNI and the add-ons; the monitoring layer's (Loki
    and Grafana only where monitoring.grafana is enabled); Argo CD where layers.gitops is on."""
    from components.offline import load_stack

    config = load_stack(stack)[0].config
    left_out = [] if config.layers.gitops else list(charts.GITOPS)
    if not config.layers.monitoring_on:
        left_out += charts.MONITORING
    elif not config.monitoring.grafana.enabled:
        left_out += [charts.LOKI, charts.GRAFANA]
    return tuple(c for c in charts.ALL if c not in left_out)


def folder(chart: charts.Chart, version: Optional[str] = None) -> Path:
    return CHARTS / chart.folder(version)


def _load(path: Path):
    return yaml.safe_load(path.read_text()) if path.is_file() else None


@lru_cache(maxsize=None)
def _subcharts(chart_dir: str) -> tuple[tuple[str, str], ...]:
    """(key in the parent's values, the subchart's folder) for every dependency present under charts/."""
    meta = _load(Path(chart_dir) / "Chart.yaml") or {}
    found = []
    for dependency in meta.get("dependencies") or []:
        sub = Path(chart_dir) / "charts" / dependency["name"]
        if sub.is_dir():
            found.append((dependency.get("alias") or dependency["name"], str(sub)))
    return tuple(found)


@lru_cache(maxsize=None)
def _defaults(chart_name: str) -> str:
    chart = charts.BY_NAME[chart_name]
    values = _load(UPSTREAM / chart.upstream / "values.yaml") or {}
    for key, sub in _subcharts(str(folder(chart))):
        sub_values = _load(Path(sub) / "values.yaml") or {}
        from .schemas import coalesce
        values[key] = coalesce(sub_values, values.get(key) or {})
    return json.dumps(values, default=str)  # dates (loki's testSchemaConfig) as the strings Helm sees


def defaults(chart: charts.Chart) -> dict:
    """The chart's default values, each subchart's under its key (a fresh copy)."""
    return json.loads(_defaults(chart.name))


def schemas(chart: charts.Chart) -> list[tuple[Optional[str], dict]]:
    """(key of the values it checks, None for the chart's own) and the values.schema.json of the chart and its subcharts."""
    found = []
    own = UPSTREAM / chart.upstream / "values.schema.json"
    if own.is_file():
        found.append((None, json.loads(own.read_text())))
    for key, sub in _subcharts(str(folder(chart))):
        path = Path(sub) / "values.schema.json"
        if path.is_file():
            found.append((key, json.loads(path.read_text())))
    return found


def crd_dirs() -> list[Path]:
    """The CRD folders of every pinned chart (rook-ceph-cluster's CRDs are rook-ceph's)."""
    return [UPSTREAM / c.upstream / "crds" for c in charts.ALL if (UPSTREAM / c.upstream / "crds").is_dir()]
