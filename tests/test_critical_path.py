"""`python -m components critical-path`: the chain that bounds a fresh `pulumi up`, from the program's graph."""

from __future__ import annotations

import json
from typing import Optional

import pytest

from components import durations
from components.__main__ import main
from components.critical_path import EventLogError, critical_path, measured_seconds, report, step_seconds
from components.offline import ProgramRun, Registration


def _reg(name: str, type_: str, depends_on=(), **inputs) -> Registration:
    return Registration(type=type_, name=name, urn=f"urn:{name}", parent="", depends_on=tuple(f"urn:{d}" for d in depends_on),
                        protect=False, custom=True, inputs=inputs, secret_inputs=frozenset(), replace_on_changes=(),
                        delete_before_replace=False, ignore_changes=())


def test_the_longest_chain_wins_and_steps_follow_each_other():
    run = ProgramRun(stack="t", resources=[
        _reg("router", "contest-k8s:sakura:RouterSwitch"),
        _reg("data", "contest-k8s:sakura:Disk", sizeGb=250, source={}),
        _reg("boot", "contest-k8s:sakura:Disk", ["router"], sizeGb=100, source={"osTag": "ubuntu"}),
        _reg("vm", "contest-k8s:sakura:Server", ["boot", "data"]),
        _reg("vm-prepare", "command:remote:Command", ["vm"]),
    ])
    chain = critical_path(run)
    assert [s.name for s in chain] == ["router", "boot", "vm", "vm-prepare"], "the blank data disk is quicker than router + boot"
    assert all(a.end == b.start for a, b in zip(chain, chain[1:]))
    assert chain[-1].end == durations.ROUTER_VISIBLE + durations.disk_seconds(100, True) + durations.SERVER_BOOT + \
        durations.NODE_STEPS["prepare"]


def test_every_stack_has_a_path_from_the_router_to_its_last_step(stack_runs):
    for stack, run in stack_runs.items():
        chain = critical_path(run)
        assert chain[0].name == "router-switch" and chain[0].start == 0, stack
        assert all(a.end == b.start for a, b in zip(chain, chain[1:])), stack
        assert max(step_seconds(r) for r in run.resources) > 0


def test_the_command_prints_the_path_and_refuses_a_bad_stack(capsys):
    assert main(["critical-path", "dev"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("critical path of dev: ") and "router-switch (contest-k8s:sakura:RouterSwitch)" in out
    assert main(["critical-path", "../dev"]) == 2
    assert "STACK" in capsys.readouterr().err


def _events(*spans: tuple[str, str, str, int, Optional[int]]) -> str:
    """What `pulumi up --json` prints: its preview as one indented document, then for each (name, type, op, start, end)
    a pre-event and, if it finished, an outputs event, one per line."""
    lines = [json.dumps({"config": {}, "steps": [{"op": "create", "urn": "urn:x"}]}, indent=4),
             '{"sequence": 0, "timestamp": 0, "preludeEvent": {"config": {}}}']
    for name, type_, op, start, end in spans:
        urn = f"urn:pulumi:prd::contest-k8s::contest-k8s:index:ClusterMachines${type_}::{name}"
        metadata = {"op": op, "urn": urn, "type": type_, "new": {"type": type_, "urn": urn, **({"custom": True} if "index:" not in type_ else {})}}
        lines.append(json.dumps({"timestamp": start, "resourcePreEvent": {"metadata": metadata}}))
        if end is not None:
            lines.append(json.dumps({"timestamp": end, "resOutputsEvent": {"metadata": metadata}}))
    return "\n".join(lines) + "\n"


def test_measured_durations_replace_the_estimates_and_are_marked():
    run = ProgramRun(stack="t", resources=[
        _reg("router", "contest-k8s:sakura:RouterSwitch"),
        _reg("boot", "contest-k8s:sakura:Disk", sizeGb=100, source={"osTag": "ubuntu"}),
        _reg("vm", "contest-k8s:sakura:Server", ["router", "boot"]),
    ])
    measured = measured_seconds(_events(("router", "contest-k8s:sakura:RouterSwitch", "create", 100, 160),
                                        ("vm", "contest-k8s:sakura:Server", "create", 300, 345),
                                        ("boot", "contest-k8s:sakura:Disk", "same", 100, 100),
                                        ("machines", "contest-k8s:index:ClusterMachines", "create", 90, 900),
                                        ("late", "contest-k8s:sakura:Disk", "create", 100, None)), "up.json")
    assert measured == {("contest-k8s:sakura:RouterSwitch", "router"): 60, ("contest-k8s:sakura:Server", "vm"): 45}, \
        "neither a component, whose outputs come with its children's, nor a create the up did not finish is a measurement"
    chain = critical_path(run, measured)
    assert [(s.name, s.seconds, s.measured) for s in chain] == [("boot", durations.disk_seconds(100, True), False), ("vm", 45, True)], \
        "a router measured at 1:00 leaves the path to the boot disk's estimate"
    text = report("t", chain, "up.json")
    assert "measured in up.json where marked *" in text and "   1:55  boot (contest-k8s:sakura:Disk)\n" in text
    assert " * 0:45  vm (contest-k8s:sakura:Server; estimated 1:00)\n" in text, "a measured step beside its estimate"
    assert [s.name for s in critical_path(run)] == ["router", "vm"], "without measurements the router's estimate binds"


def test_an_event_log_that_is_not_one_is_refused_naming_the_file(tmp_path, capsys):
    with pytest.raises(EventLogError, match=r"up.json, line 2: not JSON"):
        measured_seconds('{"timestamp": 0}\n{not json\n', "up.json")
    with pytest.raises(EventLogError, match="no resource was created"):
        measured_seconds(_events(("vm", "contest-k8s:sakura:Server", "update", 0, 5)), "up.json")
    assert main(["critical-path", "dev", "--measured", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    (tmp_path / "preview.json").write_text('{"steps": []}\n')
    assert main(["critical-path", "dev", "--measured", str(tmp_path / "preview.json")]) == 2
    assert "no resource was created" in capsys.readouterr().err
