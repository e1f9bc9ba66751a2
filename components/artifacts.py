"""Generated files that a layer applies to a host, published so the offline render can write them.

A layer calls `publish` once per file with the reviewable text (secrets as placeholders, see
`render.secrets`). Under the real engine nothing reads the list; the offline render
(`components.offline`) resolves every published text after the program ran and writes it.
A `diagram` is Graphviz DOT text, which the offline render draws (`components.diagram`) and writes as SVG.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

KINDS = frozenset(
    {"haproxy", "keepalived", "router", "kubeadm", "script", "kubernetes", "helm-values", "wireguard", "dashboard", "sakura",
     "diagram", "firewall"}
)


@dataclass(frozen=True)
class Artifact:
    path: str
    kind: str
    content: pulumi.Input[str]
    host: Optional[str] = None
    chart: Optional[str] = None
    version: Optional[str] = None


_published: list[Artifact] = []


def publish(path: str, kind: str, content: pulumi.Input[str], *, host: Optional[str] = None,
            chart: Optional[str] = None, version: Optional[str] = None) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}")
    if (chart is None) != (kind != "helm-values"):
        raise ValueError("helm-values artifacts, and only they, name a chart and version")
    if any(a.path == path for a in _published):
        raise ValueError(f"artifact {path} published twice")
    _published.append(Artifact(path, kind, content, host, chart, version))


def take() -> list[Artifact]:
    """Return everything published so far and start a fresh list (one program run)."""
    taken = list(_published)
    _published.clear()
    return taken
