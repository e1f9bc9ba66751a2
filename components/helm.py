"""How charts and Kubernetes objects are applied: the one module that knows pulumi-kubernetes' Helm and object types.

A layer hands over `Step`s (render/charts): `install` publishes `helm/<chart>-values.yaml` and makes a
`helm.v4.Chart` or a `helm.v3.Release` as the chart's pin says (components/charts.py); `apply`
publishes `kubernetes/<step>.yaml` and makes one resource per object, after the chart.

Steps are computed from the plan, which is an Output (the router's block comes from Sakura). The
resources, their names and their count must be known when the program runs, so they are read from
a *shape*: the same steps computed from a plan with an assumed block. Only names, kinds and counts
are taken from it, never a value; `_same_shape` makes sure the real steps have the same ones.

Readiness: by default a Release waits (helm --wait, its hooks run) and a Chart's objects and every
applied object are awaited by pulumi-kubernetes. A cluster where no pod ever runs (the tests' control
plane has no kubelet; the stack says so with `kubernetes.awaitReadiness: false`) gets them without
waiting: Releases with `skip_await` and no hooks (a hook Job would never finish), Charts with
`skip_await`, objects with the `pulumi.com/skipAwait` annotation.

Secrets never go into Helm values (pulumi-kubernetes keeps a release's values in the state in clear):
an object that needs one carries a `<secret:NAME>` placeholder, filled here from a Pulumi secret, and
the fields that hold one are then secret (a Secret's `stringData`, not its name). Values with a
placeholder are refused.
"""

from __future__ import annotations

import json
from typing import Callable, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from . import artifacts
from .plan import Plan
from .render.charts import Step, namespace_objects, namespaces_yaml, objects_yaml, values_yaml
from .render.secrets import fill, placeholders

# How long a release may take to be ready (helm --wait): a CNI or a Ceph cluster on fresh nodes takes minutes.
RELEASE_TIMEOUT_SECONDS = 900

# Core kinds by (apiVersion, kind): their typed resources; any other kind is a custom resource.
_CORE: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
}
_FIELDS = {"metadata": "metadata", "spec": "spec", "data": "data", "stringData": "string_data", "type": "type", "immutable": "immutable",
           "rules": "rules", "roleRef": "role_ref", "subjects": "subjects"}
# Applied before the other objects of a step: what those name (an issuer's account key Secret).
_FIRST_KINDS = ("Secret", "ConfigMap")
SKIP_AWAIT = "pulumi.com/skipAwait"  # pulumi-kubernetes: create or update the object without waiting for it to be ready


def resource_name(step: Step, obj: dict) -> str:
    """`<step>-<kind>-<name>` (the namespace is not needed: a step's objects differ in kind or name)."""
    return f"{step.name}-{obj['kind'].lower()}-{obj['metadata']['name']}"


def _same_shape(shape: Sequence[Step], real: Sequence[Step]) -> None:
    def names(steps):
        return [(s.name, s.chart, s.version, [(o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
                                              for o in s.objects]) for s in steps]
    if names(shape) != names(real):
        raise ValueError("the steps made from the real plan differ in names or objects from the ones made from its shape")


def _filled(value, secrets: Mapping[str, str]):
    """`value` with every placeholder in its strings replaced."""
    if isinstance(value, dict):
        return {k: _filled(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, secrets) for v in value]
    return fill(value, secrets) if isinstance(value, str) else value


def _without_await(obj: dict) -> dict:
    """`obj` annotated so pulumi-kubernetes does not wait for it to be ready."""
    metadata = obj["metadata"]
    return {**obj, "metadata": {**metadata, "annotations": {**(metadata.get("annotations") or {}), SKIP_AWAIT: "true"}}}


def _refuse_secrets(text: str, what: str) -> str:
    if placeholders(text):
        raise ValueError(f"{what} names secrets ({', '.join(sorted(placeholders(text)))}): secrets go into Kubernetes Secrets, "
                         "which a chart names, never into Helm values")
    return text


class Applier:
    """Applies steps of one layer with one provider, as children of `parent`."""

    def __init__(self, parent: pulumi.Resource, provider: k8s.Provider, plan: pulumi.Output[Plan],
                 make_steps: Callable[[Plan], Sequence[Step]], shape: Sequence[Step], *, chart_source: Optional[str],
                 await_readiness: bool, secrets: Optional[Mapping[str, pulumi.Output[str]]] = None):
        self.parent, self.provider, self.plan, self.shape = parent, provider, plan, tuple(shape)
        self.source = chart_source
        self.await_readiness = await_readiness
        self.secrets = dict(secrets or {})

        def real(p: Plan) -> tuple[Step, ...]:
            steps = tuple(make_steps(p))
            _same_shape(self.shape, steps)
            return steps

        self.steps: pulumi.Output[tuple[Step, ...]] = plan.apply(real)

    @property
    def _skip_await(self) -> Optional[bool]:
        """True where nothing is awaited; unset otherwise, so the inputs of stacks that await stay as they were."""
        return True if not self.await_readiness else None

    def _opts(self, depends_on: Sequence[pulumi.Resource], **extra) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent, provider=self.provider, depends_on=list(depends_on), **extra)

    def _step(self, index: int) -> pulumi.Output[Step]:
        return self.steps.apply(lambda steps: steps[index])

    # -- charts

    def install(self, index: int, *, depends_on: Sequence[pulumi.Resource] = (), protect: bool = False,
                release_name: bool = True) -> pulumi.Resource:
        """The chart of step `index`: its values published, then a Chart or a Release as its pin says.

        `release_name=False` leaves a Release auto-named, as Cilium's first deployments made it (naming it now would
        replace it, and the CNI with it)."""
        shape = self.shape[index]
        chart = shape.chart
        assert chart is not None and shape.version is not None
        step = self._step(index)
        text = pulumi.Output.all(self.plan, step).apply(
            lambda v: _refuse_secrets(values_yaml(v[0], v[1]), f"helm/{chart.name}-values.yaml"))
        artifacts.publish(f"helm/{chart.name}-values.yaml", "helm-values", text, chart=chart.name, version=shape.version)
        values = pulumi.Output.all(step, text).apply(lambda v: v[0].values)  # only once the text passed its check
        reference, repository = chart.reference(self.source, shape.version)
        if chart.kind == "chart":
            return k8s.helm.v4.Chart(
                chart.release or chart.name, chart=reference, version=shape.version, namespace=shape.namespace,
                name=chart.release, values=values, skip_await=self._skip_await,
                repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=repository) if repository else None,
                opts=self._opts(depends_on, protect=protect))
        return k8s.helm.v3.Release(
            chart.release or chart.name, chart=reference, version=shape.version, namespace=shape.namespace,
            name=chart.release if release_name else None, values=values, timeout=RELEASE_TIMEOUT_SECONDS,
            skip_await=self._skip_await, disable_webhooks=self._skip_await,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=repository) if repository else None,
            opts=self._opts(depends_on, protect=protect))

    # -- objects

    def _object(self, name: str, obj: pulumi.Output[dict], template: dict, depends_on: Sequence[pulumi.Resource],
                **options) -> pulumi.Resource:
        if not self.await_readiness:
            obj, template = obj.apply(_without_await), _without_await(template)
        api_version, kind = template["apiVersion"], template["kind"]
        fields = [key for key in template if key not in ("apiVersion", "kind")]

        def field(key: str) -> pulumi.Output:
            """One top-level field; secret, with its placeholders filled, where the template has any."""
            needs = sorted(placeholders(json.dumps(template[key])))
            if not needs:
                return obj.apply(lambda o: o[key])
            missing = [n for n in needs if n not in self.secrets]
            if missing:
                raise KeyError(f"{name} needs secrets the layer does not have: {', '.join(missing)}")
            return pulumi.Output.secret(pulumi.Output.all(obj, *(self.secrets[n] for n in needs)).apply(
                lambda v: _filled(v[0][key], dict(zip(needs, v[1:])))))

        opts = self._opts(depends_on, **options)
        make = _CORE.get((api_version, kind))
        if make is not None:
            unknown = [key for key in fields if key not in _FIELDS]
            if unknown:
                raise ValueError(f"{name}: fields {unknown} of {kind} are not handled")
            return make(name, opts=opts, **{_FIELDS[key]: field(key) for key in fields})
        if "/" not in api_version or set(fields) - {"metadata", "spec"} or "metadata" not in fields:
            raise ValueError(f"{name}: {api_version} {kind} is neither a known core kind nor a custom resource with metadata and spec")
        return k8s.apiextensions.CustomResource(name, api_version=api_version, kind=kind, metadata=field("metadata"),
                                                spec=field("spec") if "spec" in fields else None, opts=opts)

    def namespaces(self, *, depends_on: Sequence[pulumi.Resource] = (), file: str = "namespaces") -> dict[str, pulumi.Resource]:
        """A Namespace for every step's namespace; published as kubernetes/<file>.yaml (one file per layer)."""
        artifacts.publish(f"kubernetes/{file}.yaml", "kubernetes", self.steps.apply(namespaces_yaml))
        made = {}
        for i, template in enumerate(namespace_objects(self.shape)):
            obj = self.steps.apply(lambda steps, i=i: namespace_objects(steps)[i])
            made[template["metadata"]["name"]] = self._object(f"namespace-{template['metadata']['name']}", obj, template, depends_on)
        return made

    def apply_all(self, after: Sequence[pulumi.Resource], *, protect: bool, storage: Sequence[pulumi.Resource] = (),
                  namespaces_file: str = "namespaces") -> dict[str, list[pulumi.Resource]]:
        """Every step, after `after` and its namespace (published as kubernetes/<namespaces_file>.yaml), and a step that
        binds a volume (`Step.storage`) after `storage` too: a step's chart after the charts of the steps it `needs`,
        its objects after its chart (or, without one, after those needs) and after everything of the steps in
        `objects_need`. Returns each step's resources, chart first. `protect` protects the charts of stateful steps."""
        namespaces = self.namespaces(depends_on=after, file=namespaces_file)
        charts: dict[str, list[pulumi.Resource]] = {}  # a step's chart (an objects-only step: its objects)
        made: dict[str, list[pulumi.Resource]] = {}  # everything of a step
        for index, step in enumerate(self.shape):
            before = list(after) + (list(storage) if step.storage else [])
            before += [namespaces[step.namespace]] if step.namespace in namespaces else []
            before += [r for need in step.needs for r in charts[need]]
            chart = []
            if step.chart is not None:
                chart = [self.install(index, depends_on=before, protect=protect and step.stateful)]
            objects = self.apply(index, depends_on=(chart or before) + [r for need in step.objects_need for r in made[need]])
            charts[step.name] = chart or objects
            made[step.name] = chart + objects
        return made

    def apply(self, index: int, *, depends_on: Sequence[pulumi.Resource] = (), **options) -> list[pulumi.Resource]:
        """The objects of step `index`, published as kubernetes/<step>.yaml: Secrets and ConfigMaps first, then the rest.
        `options` are resource options for every one of them (retain_on_delete, delete_before_replace)."""
        shape = self.shape[index]
        if not shape.objects:
            return []
        artifacts.publish(f"kubernetes/{shape.name}.yaml", "kubernetes", self._step(index).apply(objects_yaml))
        made: list[pulumi.Resource] = []
        first: list[pulumi.Resource] = []
        order = sorted(range(len(shape.objects)), key=lambda j: shape.objects[j]["kind"] not in _FIRST_KINDS)
        for j in order:
            template = shape.objects[j]
            obj = self.steps.apply(lambda steps, j=j: steps[index].objects[j])
            after = list(depends_on) + ([] if template["kind"] in _FIRST_KINDS else first)
            resource = self._object(resource_name(shape, template), obj, template, after, **options)
            (first if template["kind"] in _FIRST_KINDS else made).append(resource)
        return first + made
