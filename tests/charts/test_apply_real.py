"""Every chart rendered by the real Helm with the values the program publishes, and every object the program makes,
applied server-side with strict field validation to a real kube-apiserver (tests/control_plane.py): a fresh control
plane per stack, CRDs first, then namespaces, everything else, and the webhook configurations last (no webhook
server runs here, and nothing runs a pod: this checks what the API server accepts, not what the controllers do)."""

from __future__ import annotations

import pytest
import yaml

from components import charts

from ..checks import charts as upstream
from ..conftest import STACKS, filled_objects, require_shared
from .test_helm_template import helm, template

pytestmark = pytest.mark.engine

WEBHOOKS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
# The API server accepts frr-k8s's own CRD (metallb 0.16.1's subchart) and warns that it does not know `format: cidr`;
# every other warning is an error, as the control plane's apply makes it.
TOLERATED = {("frrconfigurations.frrk8s.metallb.io", "unrecognized format", "cidr")}


def _objects(run, directory) -> list[tuple[dict, str]]:
    """(object, default namespace) of every chart Helm renders with the stack's values, then of every rendered file."""
    pairs = []
    for artifact, text in run.artifacts:
        if artifact.kind == "helm-values":
            chart = charts.BY_NAME[artifact.chart]
            values = directory / f"{chart.name}.yaml"
            values.write_text(text)
            result = template(chart, artifact.version, values, "--include-crds")
            assert result.returncode == 0, result.stderr
            pairs += [(doc, chart.namespace) for doc in yaml.load_all(result.stdout, Loader=yaml.CSafeLoader) if doc]
        elif artifact.kind == "kubernetes":
            pairs += [(doc, "default") for doc in filled_objects(text)]
    return pairs


@pytest.mark.parametrize("stack", STACKS)
def test_every_chart_and_object_applies_with_strict_validation(stack_runs, stack, tmp_path):
    from ..control_plane import ApplyError, ControlPlane, missing_tools

    require_shared()
    helm()
    if missing_tools():
        pytest.skip(f"needs .tools/bin/{missing_tools()[0]}: run scripts/toolchain.sh kubernetes")
    pairs = _objects(stack_runs[stack], tmp_path)
    plane = ControlPlane(tmp_path / "control-plane").start()
    errors = []
    try:
        crds = [obj for obj, _ in pairs if obj["kind"] == "CustomResourceDefinition"]
        for crd in crds:
            try:
                plane.apply(crd)
            except ApplyError as e:
                accepted = ": HTTP 20" in str(e)  # applied, with a warning
                if not (accepted and any(name == crd["metadata"]["name"] and all(w in str(e) for w in words)
                                         for name, *words in TOLERATED)):
                    errors.append(str(e)[:300])
        plane.wait_established(crd["metadata"]["name"] for crd in crds)
        rest = [(obj, ns) for obj, ns in pairs if obj["kind"] != "CustomResourceDefinition"]
        ordered = ([p for p in rest if p[0]["kind"] == "Namespace"] + [p for p in rest if p[0]["kind"] not in WEBHOOKS + ("Namespace",)]
                   + [p for p in rest if p[0]["kind"] in WEBHOOKS])
        for obj, namespace in ordered:
            try:
                plane.apply(obj, namespace)
            except ApplyError as e:
                errors.append(str(e)[:300])
        # The same API server refuses a misspelled field of the program's own objects.
        gateway = next(obj for obj, _ in pairs if obj["kind"] == "Gateway")
        with pytest.raises(ApplyError, match="field not declared in schema"):
            plane.apply({**gateway, "spec": {**gateway["spec"], "gatewayClass": "envoy-gateway"}})
    finally:
        plane.stop()
    assert errors == []
    assert len(pairs) > 250 and len(crds) > 60, (len(pairs), len(crds))
