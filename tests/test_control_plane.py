"""The test control plane itself, and the program's own Kubernetes objects applied to it for real."""

from __future__ import annotations

import pytest
import yaml

from .conftest import STACKS, require_shared
from .control_plane import ApplyError

pytestmark = pytest.mark.engine


def test_the_control_plane_starts_in_seconds(control_plane, capsys):
    status, body, _ = control_plane.request("GET", "/version")
    assert status == 200 and body["gitVersion"].startswith("v1.36.3")
    with capsys.disabled():
        print(f"\n[measured] etcd + kube-apiserver ready in {control_plane.started_in:.2f} s")
    assert control_plane.started_in < 60


@pytest.mark.parametrize("stack", STACKS)
def test_the_metallb_objects_apply_with_strict_validation(control_plane, stack_runs, stack):
    crds = [doc for path in sorted((require_shared() / "metallb" / "crds").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())
            if doc]
    control_plane.apply_all(crds + [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "metallb-system"}}])
    objects = [doc for doc in yaml.safe_load_all(stack_runs[stack].artifact(_metallb_path(stack_runs[stack]))) if doc]
    assert len(objects) == 4 and control_plane.apply_all(objects) == 4


def test_strict_validation_refuses_a_misspelled_field(control_plane, stack_runs):
    test_the_metallb_objects_apply_with_strict_validation(control_plane, stack_runs, "dev")
    peer = next(doc for doc in yaml.safe_load_all(stack_runs["dev"].artifact(_metallb_path(stack_runs["dev"])))
                if doc and doc["kind"] == "BGPPeer")
    typo = {**peer, "spec": {**{k: v for k, v in peer["spec"].items() if k != "peerASN"}, "peerAsn": 65020}}
    with pytest.raises(ApplyError, match=r"peerAsn: field not declared in schema"):
        control_plane.apply(typo)


def _metallb_path(run) -> str:
    return next(a.path for a, _ in run.artifacts if a.path.endswith("metallb-bgp.yaml"))
