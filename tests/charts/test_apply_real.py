"""Every chart rendered by the real Helm with the values the program publishes, and every object the program makes,
applied server-side with strict field validation to a real kube-apiserver (the session's `control_plane`): CRDs first
(each once, unless another stack's differs), then namespaces, everything else, and the webhook configurations last (no
webhook server runs here, and nothing runs a pod: this checks what the API server accepts, not what the controllers
do). The stacks are applied one over the other, as updates of the same objects."""

from __future__ import annotations

import json

import pytest
import yaml

from components import charts

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


# CRDs already applied to the session's control plane, by name: their content (the same chart versions in every stack)
# is applied once, which is most of the time this test takes.
_APPLIED_CRDS: dict[str, str] = {}


@pytest.mark.parametrize("stack", STACKS)
def test_every_chart_and_object_applies_with_strict_validation(stack_runs, stack, tmp_path, control_plane):
    from ..control_plane import ApplyError

    require_shared()
    helm()
    pairs = _objects(stack_runs[stack], tmp_path)
    plane = control_plane
    errors = []
    crds = [obj for obj, _ in pairs if obj["kind"] == "CustomResourceDefinition"]
    for crd in crds:
        digest = json.dumps(crd, sort_keys=True)
        if _APPLIED_CRDS.get(crd["metadata"]["name"]) == digest:
            continue
        try:
            plane.apply(crd)
        except ApplyError as e:
            accepted = ": HTTP 20" in str(e)  # applied, with a warning
            if not (accepted and any(name == crd["metadata"]["name"] and all(w in str(e) for w in words)
                                     for name, *words in TOLERATED)):
                errors.append(str(e)[:300])
        _APPLIED_CRDS[crd["metadata"]["name"]] = digest
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
    rule = next(obj for obj, _ in pairs if obj["kind"] == "PrometheusRule")
    with pytest.raises(ApplyError, match="field not declared in schema"):
        plane.apply({**rule, "spec": {"group": rule["spec"]["groups"]}})
    # No webhook server answers: the next stack's objects must not be sent to one.
    for obj, _ in ordered:
        if obj["kind"] in WEBHOOKS:
            status, body, _ = plane.request("DELETE", f"/apis/admissionregistration.k8s.io/v1/{obj['kind'].lower()}s/{obj['metadata']['name']}")
            assert status < 300, body
    assert errors == []
    assert len(pairs) > 250 and len(crds) > 60, (len(pairs), len(crds))
