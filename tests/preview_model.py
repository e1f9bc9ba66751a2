"""A model of `pulumi preview` of an existing stack, under mocks: which step the engine would plan for each resource.

The program runs twice: once as the stack's current state (every output known), then, with the
changed stack file, as a preview, where each resource is answered the way the engine answers in a
preview. The engine takes the step from the resource's provider:
- the project's provider plugin (`contest-k8s:*`): its own `diff`, and, since it supports preview,
  its `preview_create`/`preview_update` outputs (what an update cannot change stays known);
- pulumi-command (`command:remote:Command`): a changed `triggers` replaces, any other changed input
  updates (its outputs are the new inputs with the old stdout/stderr);
- pulumi-random and pulumi-tls: every input forces a replacement;
- pulumi-kubernetes: a Release is replaced when its name or namespace changes, an object when its name or
  namespace does; any other change updates it (a Helm upgrade, a server-side apply);
- a value still unknown in a preview counts as changed.
A replaced or created resource has unknown outputs, which is what makes everything downstream of it
change too. The real engine does the same in `tests/test_engine_*.py`; this model is the fast check.
`dynamic_providers=True` models the old design (providers without preview: an update hands back only
its inputs), which previewed the whole cluster as replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _sync_await

from components.mocking import FakeCloud
from components.offline import ProgramRun, RecordingMonitor, run_program
from components.provider_plugin import RESOURCE_TYPES
from components.sakura.provider import ProviderConfig, is_unknown

UNKNOWN = rpc.UNKNOWN
PLUGIN_TYPES = {cls.token: cls(ProviderConfig()) for cls in RESOURCE_TYPES}
COMMAND = "command:remote:Command"


def _known(value: Any) -> Any:
    """Deserialized inputs as plain data (secrets unwrapped) with the SDK's Unknown markers turned into the wire sentinel."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {k: _known(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v) for v in value]
    return UNKNOWN if type(value).__name__ == "Unknown" else value


def _changed(old: dict, new: dict, keys) -> list[str]:
    return [k for k in keys if is_unknown(new.get(k)) or old.get(k) != new.get(k)]


@dataclass
class Preview:
    steps: dict[str, str] = field(default_factory=dict)  # resource name -> same | update | replace | create | delete

    def names(self, step: str) -> set[str]:
        return {name for name, s in self.steps.items() if s == step}


class PreviewMonitor(RecordingMonitor):
    def __init__(self, cloud: FakeCloud, before: ProgramRun, preview: Preview, dynamic_providers: bool):
        super().__init__(cloud)
        self.before = {(r.type, r.name): r for r in before.resources}
        self.preview = preview
        self.dynamic_providers = dynamic_providers

    def RegisterResource(self, request):
        if request.type == "pulumi:pulumi:Stack" or not request.custom:
            return super().RegisterResource(request)
        urn = self.make_urn(request.parent, request.type, request.name)
        news = _known(rpc.deserialize_properties(request.object, keep_unknowns=True))
        news.pop("__provider", None)
        old = self.before.get((request.type, request.name))
        step, outputs, id_ = self._step(request.type, request.name, old, news)
        self.preview.steps[request.name] = step
        self.resources[urn] = self.ResourceRegistration(urn, id_, outputs)
        response = resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=_sync_await(rpc.serialize_properties(outputs, {})))
        self._record(request, response)
        return response

    def _step(self, token: str, name: str, old, news: dict) -> tuple[str, dict, str]:
        handler = PLUGIN_TYPES.get(token)
        if old is None:
            created = handler.preview_create(news) if handler else {**news, **self._unknown_outputs(token)}
            return "create", created, ""
        state = old.outputs
        if token.startswith("pulumi:providers:"):
            return "same", state, old.id
        if handler is not None:
            diff = handler.diff(state, news)
            if diff.replaces:
                return "replace", handler.preview_create(news), ""
            if diff.changed:
                outputs = news if self.dynamic_providers else handler.preview_update(state, news)
                return "update", outputs, old.id
            return "same", state, old.id
        inputs = {k: v for k, v in old.inputs.items() if k != "__provider"}
        if token == COMMAND:
            if _changed(inputs, news, ["triggers"]):
                return "replace", {**news, **self._unknown_outputs(token)}, ""
            if _changed(inputs, news, set(inputs) | set(news)):
                return "update", {**news, "stdout": state.get("stdout", ""), "stderr": state.get("stderr", "")}, old.id
            return "same", state, old.id
        if token.startswith("kubernetes:"):
            def identity(props: dict) -> tuple:
                metadata = props.get("metadata") or {}
                if not isinstance(metadata, dict):  # unknown as a whole
                    return props.get("name"), props.get("namespace"), UNKNOWN, UNKNOWN
                return props.get("name"), props.get("namespace"), metadata.get("name"), metadata.get("namespace")
            if identity(inputs) != identity(news) or UNKNOWN in identity(news):
                return "replace", {**news, **self._unknown_outputs(token)}, ""
            if _changed(inputs, news, set(inputs) | set(news)):
                return "update", {**state, **news}, old.id
            return "same", state, old.id
        if _changed(inputs, news, set(inputs) | set(news)):
            return "replace", {**news, **self._unknown_outputs(token)}, ""
        return "same", state, old.id

    def _unknown_outputs(self, token: str) -> dict:
        """Every output the provider computes is unknown before it runs."""
        computed = {"command:remote:Command": ("stdout", "stderr"), "random:index/randomBytes:RandomBytes": ("base64", "hex"),
                    "random:index/randomPassword:RandomPassword": ("result", "bcryptHash"),
                    "random:index/randomId:RandomId": ("hex", "b64Std", "b64Url", "dec"),
                    "tls:index/privateKey:PrivateKey": ("privateKeyPem", "privateKeyOpenssh", "publicKeyPem", "publicKeyOpenssh"),
                    "tls:index/selfSignedCert:SelfSignedCert": ("certPem",), "tls:index/certRequest:CertRequest": ("certRequestPem",),
                    "tls:index/locallySignedCert:LocallySignedCert": ("certPem",)}
        return {k: UNKNOWN for k in computed.get(token, ())}


def preview(before: ProgramRun, loaded, raw, secret_keys, *, dynamic_providers: bool = False) -> Preview:
    """The steps a preview of `loaded` plans against the state `before` left."""
    result = Preview()
    cloud = FakeCloud(loaded.stack)
    monitor = PreviewMonitor(cloud, before, result, dynamic_providers)
    run_program(loaded, raw, secret_keys, monitor=monitor, preview=True)
    for (_, name) in set(monitor.before) - {(r.type, r.name) for r in monitor.registrations}:
        result.steps[name] = "delete"
    return result
