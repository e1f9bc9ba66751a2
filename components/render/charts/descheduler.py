"""The descheduler, on a schedule: pods left skewed after a node comes back are spread again (seed 003 ran it
every 3 minutes; `addons.deschedulerSchedule`).

A node that returns after a failure is empty while the others carry its pods; nothing moves them
back by itself. `LowNodeUtilization` evicts from nodes above the target thresholds when another is
below the low ones, `RemoveDuplicates` evicts a second pod of one ReplicaSet from a node while
another node has none, and `RemovePodsViolatingTopologySpreadConstraint` restores the spread that
the pods asked for. Evictions go through the eviction API (PodDisruptionBudgets hold); DaemonSet pods,
system-critical pods (Rook's mons, mgrs and OSDs) and pods with a PVC are never evicted.
"""

from __future__ import annotations

from ...charts import DESCHEDULER
from ...plan import Plan
from . import Step


def policy() -> dict:
    return {
        "profiles": [{
            "name": "rebalance",
            "pluginConfig": [
                {"name": "DefaultEvictor", "args": {"podProtections": {"defaultDisabled": ["PodsWithLocalStorage"],
                                                                       "extraEnabled": ["PodsWithPVC"]}}},
                {"name": "RemoveDuplicates"},
                {"name": "RemovePodsViolatingTopologySpreadConstraint"},
                {"name": "LowNodeUtilization", "args": {"thresholds": {"cpu": 20, "memory": 20, "pods": 20},
                                                        "targetThresholds": {"cpu": 50, "memory": 50, "pods": 50}}},
                {"name": "RemovePodsViolatingNodeTaints"},
                {"name": "RemovePodsViolatingNodeAffinity", "args": {"nodeAffinityType": ["requiredDuringSchedulingIgnoredDuringExecution"]}},
            ],
            "plugins": {
                "balance": {"enabled": ["RemoveDuplicates", "RemovePodsViolatingTopologySpreadConstraint", "LowNodeUtilization"]},
                "deschedule": {"enabled": ["RemovePodsViolatingNodeTaints", "RemovePodsViolatingNodeAffinity"]},
            },
        }],
    }


def values(plan: Plan) -> dict:
    addons = plan.addons
    assert addons is not None
    return {"kind": "CronJob", "schedule": addons.descheduler_schedule, "deschedulerPolicy": policy()}


def step(plan: Plan) -> Step:
    return Step("descheduler", DESCHEDULER.namespace, DESCHEDULER, plan.charts.version(DESCHEDULER), values(plan))
