"""Benchmark: `pulumi up` of a stack's VM layer with the real engine against the fake Sakura API at scaled real latencies.

The fake API plays the durations of components/durations.py divided by TIME_SCALE (60: a minute of the
cloud in a second), and the provider plugin's client polls and backs off at the same scale. The
engine's event log gives each resource's start and end; times are multiplied back by TIME_SCALE and
printed as a timeline, with the projected real time to a ready VM layer and the critical path the
program's own graph predicts for it (`python -m components critical-path`, VM layer only).

Usage: .venv/bin/python scripts/bring_up.py [STACK] [--scale 20] [--parallel 64] (needs scripts/toolchain.sh pulumi).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.critical_path import critical_path, spans  # noqa: E402
from components.critical_path import report as critical_report  # noqa: E402
from components.offline import load_stack, run_program  # noqa: E402
from tests.engine_project import engine_for, on_fake, program_project  # noqa: E402
from tests.fake_sakura import FakeSakura  # noqa: E402


def scaled_timings(scale: float) -> str:
    """The client's production timings (components/sakura/client.py ClientSettings) at the fake's time scale."""
    return ",".join([f"requests_per_second={5 * scale}", f"poll_interval={5 / scale}", f"backoff_initial={1 / scale}",
                     f"backoff_cap={64 / scale}", f"shutdown_timeout={180 / scale}", f"not_found_grace={1800 / scale}",
                     f"poll_timeout={1200 / scale}"])


def engine_events(engine, stack: str, parallel: int) -> list[tuple[float, dict]]:
    """`pulumi up --json`'s stream of engine events, each with the moment it arrived (the events' own
    timestamps have whole seconds only, a minute of the cloud at the default scale)."""
    argv = [str(engine_binary()), "up", "--yes", "--skip-preview", "--json", "--stack", stack, "--non-interactive",
            "--parallel", str(parallel)]
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=engine.project_dir, env=engine.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    events = [(time.monotonic() - started, json.loads(line)) for line in process.stdout if line.startswith("{")]
    if process.wait() != 0:
        raise SystemExit(f"pulumi up failed:\n{process.stderr.read()[-4000:]}")
    return events


def engine_binary() -> Path:
    from tests.engine import BIN
    return BIN / "pulumi"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stack", nargs="?", default="prd")
    parser.add_argument("--parallel", type=int, default=64, help="pulumi up --parallel (the CLI's default is 4 per CPU)")
    parser.add_argument("--scale", type=float, default=20.0, help="the fake API runs the cloud's durations divided by this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work, FakeSakura(time_scale=args.scale) as fake:
        work = Path(work)
        project = program_project(work / "project", args.stack, on_fake(fake))
        engine = engine_for(project, work / "engine", timings=scaled_timings(args.scale),
                            SAKURACLOUD_ACCESS_TOKEN=fake.token, SAKURACLOUD_ACCESS_TOKEN_SECRET=fake.secret)
        engine.stack_init(args.stack)
        events = engine_events(engine, args.stack, args.parallel)
        steps = {name: (s.start, s.end, s.type) for name, s in spans(events).items()}
        calls = len(fake.log)
        loaded, raw, secret_keys = load_stack(args.stack, project / f"Pulumi.{args.stack}.yaml")
    print(f"{args.stack}: VM layer up with the real engine (--parallel {args.parallel}), the fake API at 1/{args.scale:g} of the "
          "cloud's durations; "
          f"{len(steps)} resources, {calls} API calls, {events[-1][0]:.1f} s measured")
    # The program's start and the engine's own work take real seconds, not scaled ones: the timeline
    # starts at the first Sakura resource, and the seconds before it are added unscaled.
    origin = min(start for start, _, kind in steps.values() if kind.startswith("contest-k8s:sakura:"))
    print(f"  program and engine start: {origin:.1f} s (not scaled)")
    print("  start    end  Sakura resource (projected real minutes:seconds after the start)")
    for name, (start, end, kind) in sorted(steps.items(), key=lambda item: (item[1][0], item[0])):
        if kind.startswith("contest-k8s:sakura:"):
            print(f"  {_clock((start - origin) * args.scale):>5}  {_clock((end - origin) * args.scale):>5}  {name} ({kind})")
    total = origin + (max(end for _, end, _ in steps.values()) - origin) * args.scale
    print(f"projected real time to a ready VM layer: {_clock(total)} (the engine's own time between steps is scaled too: "
          "an overestimate)")
    print(critical_report(f"{args.stack} (VM layer)", critical_path(run_program(loaded, raw, secret_keys))), end="")
    return 0


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


if __name__ == "__main__":
    sys.exit(main())
