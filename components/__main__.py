"""Command line of the project.

`python -m components render STACK [--config FILE] [--out DIR]` runs the real program under
Pulumi's mocks with clearly fake cloud values and writes every generated file under DIR/STACK/
with a manifest.json. STACK is a DNS label; the render replaces only DIR/STACK/ (when it is
missing, empty or an earlier render), all at once. A bad stack file, stack name or output
directory exits with status 2, says every problem, and writes nothing.

`python -m components venue-config SOURCE...` prints the venue's whole wg-quick file, one peer per
cluster. A SOURCE is `pulumi stack output --json` saved to a file, or an offline render directory
(build/prd); the venue's private key is left as a placeholder.

`python -m components diagram STACK [--format svg|png] [--config FILE] [--out FILE]` draws the
stack's topology alone, the same picture as the render's STACK/topology.svg (needs Graphviz's dot).

`python -m components critical-path STACK [--config FILE] [--measured EVENTS]` prints the dependency
chain that bounds a fresh `pulumi up` of the stack, with each step's estimated duration
(components/durations.py), or its measured one from EVENTS, the output of `pulumi up --json` when the
stack was new.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import ConfigError
from .plan import PlanError
from .render.wireguard import ClusterPeer, venue_conf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="render a stack offline for review")
    render.add_argument("stack")
    render.add_argument("--config", type=Path, help="stack file (default: Pulumi.STACK.yaml)")
    render.add_argument("--out", type=Path, default=Path("build"), help="output directory (default: build/)")
    venue = commands.add_parser("venue-config", help="the venue's wg-quick file from the clusters' outputs or renders")
    venue.add_argument("sources", nargs="+", type=Path, help="stack output JSON file or render directory, one per cluster")
    venue.add_argument("--listen-port", type=int, default=51820)
    diagram = commands.add_parser("diagram", help="draw a stack's topology (Graphviz)")
    diagram.add_argument("stack")
    diagram.add_argument("--format", choices=("svg", "png"), default="svg")
    diagram.add_argument("--config", type=Path, help="stack file (default: Pulumi.STACK.yaml)")
    diagram.add_argument("--out", type=Path, help="file to write (default: build/topology-STACK.FORMAT)")
    critical = commands.add_parser("critical-path", help="the chain of steps that bounds a fresh `pulumi up`")
    critical.add_argument("stack")
    critical.add_argument("--config", type=Path, help="stack file (default: Pulumi.STACK.yaml)")
    critical.add_argument("--measured", type=Path, metavar="EVENTS",
                          help="the output of `pulumi up --json` of this stack when it was new: measured durations replace the estimates")
    args = parser.parse_args(argv)

    if args.command == "critical-path":
        from .critical_path import EventLogError, critical_path, measured_seconds, report
        from .offline import DNS_LABEL, OutputError, load_stack, run_program

        try:
            if not DNS_LABEL.fullmatch(args.stack):
                raise OutputError("STACK", args.stack, "a stack name that is a DNS label (lower-case letters, digits, '-'), like prd")
            measured = None
            if args.measured:
                try:
                    measured = measured_seconds(args.measured.read_text(encoding="utf-8"), str(args.measured))
                except (OSError, UnicodeDecodeError) as e:
                    raise EventLogError(f"--measured {args.measured}: {e}") from None
            run = run_program(*load_stack(args.stack, args.config))
        except (ConfigError, PlanError, OutputError, EventLogError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(report(args.stack, critical_path(run, measured), str(args.measured) if args.measured else None), end="")
        return 0

    if args.command == "diagram":
        from .diagram import DiagramError, stack_diagram

        out = args.out or Path("build") / f"topology-{args.stack}.{args.format}"
        try:
            picture = stack_diagram(args.stack, args.config, args.format)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(picture)
        except (ConfigError, PlanError, DiagramError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(out)
        return 0

    if args.command == "venue-config":
        try:
            print(venue_conf([_cluster_peer(source) for source in args.sources], args.listen_port), end="")
        except (OSError, KeyError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0

    from .diagram import DiagramError
    from .offline import OutputError, render as render_stack

    try:
        target = render_stack(args.stack, args.config, args.out)
    except (ConfigError, PlanError, OutputError, DiagramError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(target)
    return 0


def _cluster_peer(source: Path) -> ClusterPeer:
    """A cluster's `wireguard` stack output, from `pulumi stack output --json` or a render directory."""
    if source.is_dir():
        return ClusterPeer.from_output(json.loads((source / "wireguard" / "peer.json").read_text()))
    outputs = json.loads(source.read_text())
    if "wireguard" not in outputs:
        raise KeyError(f"{source} has no 'wireguard' output (was the edge layer deployed?)")
    return ClusterPeer.from_output(outputs["wireguard"])


if __name__ == "__main__":
    sys.exit(main())
