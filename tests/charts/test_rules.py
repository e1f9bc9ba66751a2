"""Every PrometheusRule the program makes, checked by Prometheus's own parser (`promtool check rules`, from Debian's
`prometheus` package): expressions, durations, label and annotation templates. The alerts the seeds lacked are named:
before Prometheus's volume fills, when a cluster stops reporting, when a watched heartbeat stops."""

from __future__ import annotations

import copy
import shutil
import subprocess

import pytest
import yaml

from ..checks import charts as upstream
from ..checks.schemas import crd_errors
from ..conftest import STACKS, filled_objects, require_shared


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("needs promtool: Debian's prometheus package (.ci/run installs it)")
    return found


def rules(run) -> list[dict]:
    return [doc for a, text in run.artifacts if a.kind == "kubernetes" for doc in filled_objects(text) if doc["kind"] == "PrometheusRule"]


def check(objects: list[dict], tmp_path) -> subprocess.CompletedProcess:
    paths = []
    for obj in objects:
        path = tmp_path / f"{obj['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(obj["spec"], sort_keys=False))
        paths.append(str(path))
    return subprocess.run([promtool(), "check", "rules", *paths], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("stack", STACKS)
def test_every_rule_parses_and_validates(stack_runs, stack, tmp_path):
    require_shared()
    objects = rules(stack_runs[stack])
    alerts = {rule["alert"] for obj in objects for group in obj["spec"]["groups"] for rule in group["rules"]}
    assert {"PrometheusVolumeFillingUp", "PrometheusVolumeFullIn24h", "ProbeFailing"} <= alerts
    assert ("ClusterStoppedReporting" in alerts) == (stack == "wsp") and ("HeartbeatMissing" in alerts) == (stack == "dev")
    assert crd_errors(objects, upstream.UPSTREAM / "kube-prometheus-stack" / "crds") == []
    result = check(objects, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_refuses_a_broken_expression_and_template(stack_runs, tmp_path):
    objects = rules(stack_runs["wsp"])
    reporting = next(o for o in objects if o["metadata"]["name"] == "clusters-reporting")
    broken = copy.deepcopy(reporting)
    broken["spec"]["groups"][0]["rules"][0]["expr"] = 'absent_over_time(up{cluster="prd"}[5m]'
    result = check([broken], tmp_path)
    assert result.returncode != 0 and "clusters-reporting" in result.stdout + result.stderr
    storage = copy.deepcopy(next(o for o in objects if o["metadata"]["name"] == "prometheus-storage"))
    storage["spec"]["groups"][0]["rules"][0]["annotations"]["summary"] = "{{ $value | humanisePercentage }}"
    assert check([storage], tmp_path).returncode != 0
    storage["spec"]["groups"][0]["rules"][0]["annotations"]["summary"] = "fine"
    storage["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes"
    assert check([storage], tmp_path).returncode != 0
