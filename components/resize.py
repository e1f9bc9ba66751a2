"""The order of size changes: which VM may be shut down for a new size, and what must hold first.

A size change is a `ServerSize` update (components/sakura/server_size.py): the VM is shut down,
given its new plan and started again. The Servers themselves are not chained, so day one still
creates every VM at once; only the size resources are, and between them a layer puts its own
steps around each node:

    drain(node) -> size(node) -> gate(node) -> drain(next) -> size(next) -> gate(next) ...

A batch's nodes are resized together; the next batch's drains and sizes wait for every gate of
this one. Control planes and load balancers go one per batch, workers `workers.resizeBatchSize`
at a time, the router alone. With its layer off, a role has no drain or gate, and its sizes chain
directly (one after the other, still never at once). On day one every step is a no-op: the sizes
already match, the drains see the planned size, the gates see no pending resize.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import pulumi

# (node, what it must wait for) -> the node's ServerSize
SizeFactory = Callable[[str, Sequence[pulumi.Resource]], pulumi.Resource]


@dataclass(frozen=True)
class ResizeSteps:
    """What a layer runs around the size change of one of its nodes."""

    drain: Callable[[str, Sequence[pulumi.Resource]], pulumi.Resource]  # (node, after) -> runs before the size change
    gate: Callable[[str, pulumi.Resource], pulumi.Resource]  # (node, its size) -> done once the node serves again


# The Pulumi SDK follows dependency chains recursively (its cycle check, and the awaits of each dependency's
# URN): a chain of a few hundred nodes, three steps each, goes past Python's default of 1000 frames.
# Measured with 500 workers (1500 steps in one chain): it fails at 1000 and passes at 2500.
FRAMES_PER_STEP = 4


def _allow_depth(steps: int) -> None:
    needed = 1000 + FRAMES_PER_STEP * steps
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


def batches(nodes: Sequence[str], size: int) -> list[list[str]]:
    return [list(nodes[i:i + size]) for i in range(0, len(nodes), size)]


def chain_resizes(groups: Sequence[Sequence[str]], server_size: SizeFactory, steps: Optional[ResizeSteps] = None) -> dict[str, pulumi.Resource]:
    """Each node's size (with its drain and gate, when `steps` are given), batch after batch. Returns each node's last step."""
    _allow_depth(3 * len(groups))
    last: dict[str, pulumi.Resource] = {}
    previous: list[pulumi.Resource] = []
    for group in groups:
        done = []
        for node in group:
            if steps is None:
                last[node] = server_size(node, previous)
            else:
                drain = steps.drain(node, previous)
                last[node] = steps.gate(node, server_size(node, [*previous, drain]))
            done.append(last[node])
        previous = done
    return last
