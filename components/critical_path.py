"""The dependency chain that bounds a fresh `pulumi up`, from the program's own graph.

The program runs under mocks (the offline render's harness) and records every resource with what it
depends on; each resource gets the duration of its step (`components.durations`: Sakura operations
and node work). The engine starts a resource as soon as everything it depends on is done, so the
earliest finish of each resource is the latest finish of its dependencies plus its own duration, and
the resource that finishes last, followed back through the dependency that held it, is the critical
path. A reviewer sees what a change does to the bring-up time.
"""

from __future__ import annotations

from dataclasses import dataclass
from graphlib import TopologicalSorter

from . import durations
from .offline import ProgramRun, Registration

SAKURA = "contest-k8s:sakura:"


def step_seconds(r: Registration) -> float:
    """The estimated duration of one resource's create."""
    kind = r.type.removeprefix(SAKURA) if r.type.startswith(SAKURA) else None
    if kind == "RouterSwitch":
        return durations.ROUTER_VISIBLE
    if kind == "Disk":
        return durations.disk_seconds(int(r.inputs["sizeGb"]), bool(r.inputs.get("source")))
    if kind == "DiskEdit":
        return durations.DISK_EDIT
    if kind == "Server":
        return durations.SERVER_BOOT
    if kind == "SeedIso":
        return durations.ISO_UPLOAD
    if kind == "Archive":
        return durations.ARCHIVE_UPLOAD
    if kind in ("Switch", "SshKey", "PacketFilter"):
        return durations.QUICK
    if r.type == "command:remote:Command":
        if "kubeadm init --config" in str(r.inputs.get("stdin", "")):
            return durations.NODE_STEPS["init"]
        return next((seconds for suffix, seconds in durations.NODE_STEPS.items() if r.name.endswith(suffix)), 0.0)
    if r.type.startswith("kubernetes:helm.sh/"):
        return durations.CHART_INSTALL
    return 0.0


@dataclass(frozen=True)
class Step:
    name: str
    type: str
    start: float
    seconds: float

    @property
    def end(self) -> float:
        return self.start + self.seconds


def critical_path(run: ProgramRun) -> list[Step]:
    """The chain of steps, first to last, that ends with the last resource to finish."""
    by_urn = {r.urn: r for r in run.resources}
    deps = {urn: [d for d in r.depends_on if d in by_urn] for urn, r in by_urn.items()}
    finish: dict[str, float] = {}
    held_by: dict[str, str | None] = {}
    for urn in TopologicalSorter(deps).static_order():
        before = max(deps[urn], key=lambda d: finish[d], default=None)
        start = finish[before] if before else 0.0
        finish[urn] = start + step_seconds(by_urn[urn])
        held_by[urn] = before
    chain = []
    urn = max(finish, key=lambda u: (finish[u], u)) if finish else None
    while urn is not None:
        r = by_urn[urn]
        seconds = step_seconds(r)
        chain.append(Step(r.name, r.type, finish[urn] - seconds, seconds))
        urn = held_by[urn]
    return [step for step in reversed(chain) if step.seconds > 0]


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def report(stack: str, chain: list[Step]) -> str:
    total = chain[-1].end if chain else 0.0
    lines = [f"critical path of {stack}: {_clock(total)} (min:s) projected for a fresh `pulumi up` "
             "(durations: components/durations.py)", "  start   takes  resource"]
    lines += [f"  {_clock(s.start):>5}  {_clock(s.seconds):>5}  {s.name} ({s.type})" for s in chain]
    return "\n".join(lines) + "\n"
