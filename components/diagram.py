"""Draw the topology picture: the DOT text of `render.topology` through Graphviz's `dot`.

Only the offline render (for `diagram` artifacts) and `python -m components diagram` call this;
the Pulumi program publishes the DOT text and never runs `dot`, so `pulumi up` does not need
Graphviz. `dot` runs as a plain subprocess rather than through the `graphviz` pip package: that
wrapper's value is building DOT source, which `render.topology` already does, and for drawing it
runs the same binary the same way, so it would add a pin for one call.

The bytes depend only on the DOT text and the Graphviz build (SVG names its version in a comment;
the layout uses the installed fonts), so the same plan on the same machine gives the same file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Optional

FORMATS = ("svg", "png")
DOT_TIMEOUT_SECONDS = 60


class DiagramError(Exception):
    """`dot` is missing or failed; nothing was written."""


def draw(dot_text: str, fmt: str = "svg", *, name: str = "topology.svg") -> bytes:
    """The picture in `fmt` (svg or png); `name` is the file it is for, used in errors."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown diagram format {fmt!r}")
    dot = shutil.which("dot")
    if dot is None:
        raise DiagramError(f"graphviz's dot is needed to draw {name} (Debian and Ubuntu: apt-get install graphviz)")
    try:
        result = subprocess.run([dot, f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                                timeout=DOT_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise DiagramError(f"dot took more than {DOT_TIMEOUT_SECONDS} s to draw {name}") from None
    if result.returncode != 0 or not result.stdout:
        raise DiagramError(f"dot could not draw {name} (exit {result.returncode}): {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def stack_diagram(stack: str, config_file: Optional[Path], fmt: str = "svg") -> bytes:
    """The picture the offline render writes as STACK/topology.svg: the real program under mocks, its `diagram` drawn."""
    from .config import DNS_LABEL, describe
    from .offline import load_stack, run_program  # the offline module draws with this one

    if not DNS_LABEL.fullmatch(stack):
        raise DiagramError(f"STACK: expected a stack name that is a DNS label (lower-case letters, digits, '-'), like prd; "
                           f"given {describe(stack)}")
    run = run_program(*load_stack(stack, config_file))
    dot_text = next(text for artifact, text in run.artifacts if artifact.kind == "diagram")
    return draw(dot_text, fmt, name=f"topology.{fmt}")
