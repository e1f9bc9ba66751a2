"""`python -m components critical-path`: the chain that bounds a fresh `pulumi up`, from the program's graph."""

from __future__ import annotations

from components import durations
from components.__main__ import main
from components.critical_path import critical_path, step_seconds
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
