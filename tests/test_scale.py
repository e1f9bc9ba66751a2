"""The largest cluster the program is tested with: 500 workers render, with every node's resources.

Pulumi's dynamic providers stopped a stack near 312 workers: each provider serialization
(`pulumi.dynamic.serialize_provider`) wraps pickle's `_batch_setitems` once more around the previous
wrapper, so the thousandth dynamic resource recursed a thousand wrappers deep (RecursionError).
The project's own provider plugin serializes nothing, and nothing here grows with the cluster but the
resources themselves.
"""

from __future__ import annotations

import json
import time

from components.__main__ import main

from .conftest import write_stack

WORKERS = 500


def test_500_workers_render(tmp_path, capsys):
    def edit(c: dict) -> None:
        c["contest-k8s:network"]["privateCidr"] = "10.2.0.0/22"  # room for 500 workers
        c["contest-k8s:metallb"]["privatePool"] = "10.2.4.0/24"
        c["contest-k8s:kubernetes"]["podCidr"] = "10.64.0.0/14"  # a /24 for each of 503 nodes
        c["contest-k8s:workers"]["nodes"] = {f"worker-{i}": 10 + i for i in range(1, WORKERS + 1)}

    path = write_stack(tmp_path, "dev", edit)
    started = time.monotonic()
    assert main(["render", "dev", "--config", str(path), "--out", str(tmp_path / "out")]) == 0
    seconds = time.monotonic() - started
    inventory = json.loads((tmp_path / "out" / "dev" / "sakura" / "inventory.json").read_text())
    assert sum(s["role"] == "worker" for s in inventory["servers"]) == WORKERS
    frr = (tmp_path / "out" / "dev" / "router" / "router" / "frr.conf").read_text()
    assert frr.count("peer-group METALLB\n") == WORKERS and "maximum-paths 256" in frr, "ECMP capped at what FRR and VyOS accept"
    with capsys.disabled():
        print(f"\n[measured] {WORKERS} workers: rendered in {seconds:.1f} s")
