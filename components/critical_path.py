"""The dependency chain that bounds a fresh `pulumi up`, from the program's own graph.

The program runs under mocks (the offline render's harness) and records every resource with what it
depends on; each resource gets the duration of its step (`components.durations`: Sakura operations
and node work). The engine starts a resource as soon as everything it depends on is done, so the
earliest finish of each resource is the latest finish of its dependencies plus its own duration, and
the resource that finishes last, followed back through the dependency that held it, is the critical
path. A reviewer sees what a change does to the bring-up time.

Once a stack has been brought up for real, the engine's own record of that `pulumi up --json` gives
each step's measured duration (`measured_seconds`); those replace the estimates step by step, and the
report marks which ones were measured, each beside its estimate, so durations.py can be corrected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import Iterable, Mapping, Optional

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
class Span:
    """One resource's step in an update, from the engine's events."""

    type: str
    op: str
    start: float
    end: float


def spans(events: Iterable[tuple[float, dict]]) -> dict[str, Span]:
    """Resource name -> its span, for every resource (not a component: its outputs come whenever its
    children's do) an update created, updated or replaced and finished, from the engine's events
    (`pulumi up --json`), each with the moment it happened."""
    starts: dict[str, tuple[float, dict]] = {}
    ends: dict[str, float] = {}
    for stamp, event in events:
        pre, outputs = event.get("resourcePreEvent"), event.get("resOutputsEvent")
        if pre and pre["metadata"].get("op") != "same":
            starts[pre["metadata"]["urn"]] = (stamp, pre["metadata"])
        elif outputs:
            ends[outputs["metadata"]["urn"]] = stamp
    return {urn.rsplit("::", 1)[-1]: Span(meta.get("type", ""), meta["op"], start, ends[urn])
            for urn, (start, meta) in starts.items()
            if urn in ends and (meta.get("new") or meta.get("old") or {}).get("custom")
            and not meta.get("type", "").startswith("pulumi:providers:")}


class EventLogError(ValueError):
    pass


def json_documents(text: str, source: str) -> list:
    """Every JSON document in `text`, one after another: `pulumi up --json` prints its preview as one
    indented document, then one engine event per line."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return documents
        try:
            document, at = decoder.raw_decode(text, at)
        except ValueError as e:
            raise EventLogError(f"{source}, line {text.count(chr(10), 0, at) + 1}: not JSON ({e.args[0]})") from None
        documents.append(document)


def measured_seconds(text: str, source: str) -> dict[tuple[str, str], float]:
    """(type, name) -> seconds its create took, from the output of `pulumi up --json` of a new stack. The
    events carry whole seconds, which is what a step of minutes needs; a resource the up did not finish
    has no measurement."""
    events = [(float(d["timestamp"]), d) for d in json_documents(text, source) if isinstance(d, dict) and "timestamp" in d]
    created = {(span.type, name): span.end - span.start for name, span in spans(events).items() if span.op == "create"}
    if not created:
        raise EventLogError(f"{source}: no resource was created; expected the output of `pulumi up --json` of a new stack")
    return created


@dataclass(frozen=True)
class Step:
    name: str
    type: str
    start: float
    seconds: float
    estimate: Optional[float] = None  # set when `seconds` is measured

    @property
    def measured(self) -> bool:
        return self.estimate is not None

    @property
    def end(self) -> float:
        return self.start + self.seconds


def critical_path(run: ProgramRun, measured: Optional[Mapping[tuple[str, str], float]] = None) -> list[Step]:
    """The chain of steps, first to last, that ends with the last resource to finish; a step's measured
    duration, where `measured` has one, instead of its estimate."""
    measured = measured or {}

    def seconds_of(r: Registration) -> float:
        return measured.get((r.type, r.name), step_seconds(r))

    by_urn = {r.urn: r for r in run.resources}
    deps = {urn: [d for d in r.depends_on if d in by_urn] for urn, r in by_urn.items()}
    finish: dict[str, float] = {}
    held_by: dict[str, str | None] = {}
    for urn in TopologicalSorter(deps).static_order():
        before = max(deps[urn], key=lambda d: finish[d], default=None)
        start = finish[before] if before else 0.0
        finish[urn] = start + seconds_of(by_urn[urn])
        held_by[urn] = before
    chain = []
    urn = max(finish, key=lambda u: (finish[u], u)) if finish else None
    while urn is not None:
        r = by_urn[urn]
        seconds = seconds_of(r)
        chain.append(Step(r.name, r.type, finish[urn] - seconds, seconds, step_seconds(r) if (r.type, r.name) in measured else None))
        urn = held_by[urn]
    return [step for step in reversed(chain) if step.seconds > 0]


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def report(stack: str, chain: list[Step], measured_from: Optional[str] = None) -> str:
    total = chain[-1].end if chain else 0.0
    source = f"measured in {measured_from} where marked *, else components/durations.py" if measured_from else "components/durations.py"
    lines = [f"critical path of {stack}: {_clock(total)} (min:s) projected for a fresh `pulumi up` (durations: {source})",
             "  start   takes  resource"]
    lines += [f"  {_clock(s.start):>5} {'*' if s.measured else ' '}{_clock(s.seconds):>5}  {s.name} ({s.type}"
              + (f"; estimated {_clock(s.estimate)})" if s.measured else ")") for s in chain]
    return "\n".join(lines) + "\n"
