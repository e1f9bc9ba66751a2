"""Time the offline render of each stack, and of a synthetic stack with 100 workers.

Each render runs in a fresh interpreter (as a reviewer runs it), so the numbers include
imports. Prints wall seconds and peak RSS per render; run it from the project root:

    .venv/bin/python scripts/benchmark.py [--repeat N]
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from components.offline import render
from pathlib import Path
t1 = time.perf_counter()
render(sys.argv[1], Path(sys.argv[2]) if sys.argv[2] else None, Path(sys.argv[3]))
t2 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "render": t2 - t1, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def synthetic_stack(directory: Path, workers: int) -> Path:
    document = yaml.safe_load((ROOT / "Pulumi.prd.yaml").read_text())
    config = copy.deepcopy(document["config"])
    config["contest-k8s:workers"]["nodes"] = {f"worker-{i}": 10 + i for i in range(1, workers + 1)}
    path = directory / "Pulumi.synthetic.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    return path


def measure(stack: str, config: Path | None, out: Path) -> dict:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CHILD, stack, str(config or ""), str(out)], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["wall"] = time.perf_counter() - start
    figures["files"] = sum(1 for p in (out / stack).rglob("*") if p.is_file())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        cases = [(s, None) for s in ("prd", "dev", "wsp")] + [("synthetic", synthetic_stack(scratch_path, 100))]
        print(f"{'stack':<16}{'files':>6}{'wall s':>9}{'render s':>10}{'imports s':>11}{'peak RSS MB':>13}")
        total = 0.0
        for stack, config in cases:
            runs = [measure(stack, config, scratch_path / "out") for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["wall"])
            if stack != "synthetic":
                total += best["wall"]
            print(f"{stack + (' (100 w)' if config else ''):<16}{best['files']:>6}{best['wall']:>9.2f}{best['render']:>10.2f}"
                  f"{best['imports']:>11.2f}{max(r['peak_rss_mb'] for r in runs):>13.1f}")
        print(f"all three stacks: {total:.2f} s wall (best of {args.repeat} each)")


if __name__ == "__main__":
    main()
