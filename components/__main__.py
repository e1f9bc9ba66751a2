"""Command line: `python -m components render STACK [--config FILE] [--out DIR]`.

Runs the real program under Pulumi's mocks with clearly fake cloud values and writes every
generated file under DIR/STACK/ with a manifest.json. A bad config exits with status 2 and
writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import ConfigError
from .plan import PlanError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="render a stack offline for review")
    render.add_argument("stack")
    render.add_argument("--config", type=Path, help="stack file (default: Pulumi.STACK.yaml)")
    render.add_argument("--out", type=Path, default=Path("build"), help="output directory (default: build/)")
    args = parser.parse_args(argv)

    from .offline import render as render_stack

    try:
        target = render_stack(args.stack, args.config, args.out)
    except (ConfigError, PlanError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
