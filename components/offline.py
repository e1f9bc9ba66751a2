"""Run the real Pulumi program under mocks: the offline render and the tests' resource graph.

`run_program` executes `__main__.py` exactly as `pulumi up` would, but against `FakeCloud`,
and records every registration (type, name, parent, dependencies, protect, inputs with their
secret paths) plus the stack outputs and the published artifacts. `render` writes those
artifacts and a manifest under `OUT/STACK/` for review in a pull request.
"""

from __future__ import annotations

import json
import runpy
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from . import artifacts
from .config import PROJECT, ConfigError, LoadedConfig, Problem, load_config
from .mocking import FakeCloud
from .render.secrets import placeholders

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROGRAM = PROJECT_ROOT / "__main__.py"


# --------------------------------------------------------------------------- stack files


class _StrictLoader(yaml.SafeLoader):
    """YAML loader that rejects duplicate keys (a second `worker-1:` must not win silently)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _engine_form(value: Any) -> tuple[Any, bool]:
    """Mirror what the engine hands a program: secure values become placeholders (marked secret)."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return "<secret:stack-config>", True
    if isinstance(value, dict):
        items = {k: _engine_form(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items = [_engine_form(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def read_stack_file(path: Path) -> tuple[dict[str, str], frozenset[str]]:
    """A stack file's config as the engine passes it: strings, JSON for objects, secret keys apart."""
    try:
        document = yaml.load(path.read_text(), Loader=_StrictLoader) or {}
    except yaml.YAMLError as e:
        raise ConfigError(str(path), [Problem("(file)", "unparseable YAML", f"valid YAML ({e})".replace("\n", " "))]) from e
    except OSError as e:
        raise ConfigError(str(path), [Problem("(file)", "a missing file", f"a readable stack file ({e.strerror})")]) from e
    entries = document.get("config") or {}
    if not isinstance(entries, dict):
        raise ConfigError(str(path), [Problem("config", type(entries).__name__, "a mapping of namespaced keys")])
    raw: dict[str, str] = {}
    secret_keys: set[str] = set()
    problems = [Problem(k, repr(k), f"a namespaced key like {PROJECT}:{k}") for k in entries if ":" not in str(k)]
    if problems:
        raise ConfigError(str(path), problems)
    for key, value in entries.items():
        plain, is_secret = _engine_form(value)
        if is_secret:
            secret_keys.add(key)
        if isinstance(plain, (dict, list)):
            raw[key] = json.dumps(plain)
        elif isinstance(plain, bool):
            raw[key] = "true" if plain else "false"
        else:
            raw[key] = "" if plain is None else str(plain)
    return raw, frozenset(secret_keys)


def load_stack(stack: str, config_file: Optional[Path] = None) -> tuple[LoadedConfig, dict[str, str], frozenset[str]]:
    path = config_file or PROJECT_ROOT / f"Pulumi.{stack}.yaml"
    raw, secret_keys = read_stack_file(path)
    label = path.name if path.parent == PROJECT_ROOT else str(path)
    return load_config(raw, stack=stack, source=label, secret_keys=secret_keys), raw, secret_keys


# --------------------------------------------------------------------------- recording the graph


@dataclass(frozen=True)
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    depends_on: tuple[str, ...]
    protect: bool
    custom: bool
    inputs: dict
    secret_inputs: frozenset[str]
    replace_on_changes: tuple[str, ...]
    delete_before_replace: bool
    ignore_changes: tuple[str, ...]

    @property
    def short_type(self) -> str:
        return self.type.rsplit(":", 1)[-1]


@dataclass
class ProgramRun:
    stack: str
    resources: list[Registration] = field(default_factory=list)
    outputs: dict = field(default_factory=dict)
    secret_outputs: frozenset[str] = frozenset()
    artifacts: list[tuple[artifacts.Artifact, str]] = field(default_factory=list)

    def of_type(self, type_suffix: str) -> list[Registration]:
        return [r for r in self.resources if r.type.endswith(type_suffix)]

    def named(self, name: str, type_suffix: str = "") -> Registration:
        found = [r for r in self.resources if r.name == name and r.type.endswith(type_suffix)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r} of type *{type_suffix}")
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.resources if r.urn == urn)

    def artifact(self, path: str) -> str:
        return next(text for a, text in self.artifacts if a.path == path)


def _plain(value: struct_pb2.Value, path: str, secrets: set[str]) -> Any:
    """Protobuf value -> Python, noting where secrets were and dropping wrappers."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        fields = value.struct_value.fields
        sig = fields[rpc._special_sig_key].string_value if rpc._special_sig_key in fields else None
        if sig == rpc._special_secret_sig:
            secrets.add(path)
            return _plain(fields["value"], path, secrets)
        if sig == rpc._special_resource_sig:
            return fields["urn"].string_value
        return {k: _plain(v, f"{path}.{k}" if path else k, secrets) for k, v in fields.items()}
    if kind == "list_value":
        return [_plain(v, f"{path}[{i}]", secrets) for i, v in enumerate(value.list_value.values)]
    if kind == "number_value":
        return int(value.number_value) if value.number_value.is_integer() else value.number_value
    if kind == "string_value":
        return None if value.string_value == rpc.UNKNOWN else value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def _plain_struct(struct: struct_pb2.Struct) -> tuple[dict, frozenset[str]]:
    secrets: set[str] = set()
    wrapped = struct_pb2.Value(struct_value=struct)
    return _plain(wrapped, "", secrets), frozenset(secrets)


class RecordingMonitor(mocks.MockMonitor):
    """The mock monitor, keeping every registration request the program made."""

    def __init__(self, cloud: FakeCloud):
        super().__init__(cloud)
        self.registrations: list[Registration] = []
        self.stack_outputs: tuple[dict, frozenset[str]] = ({}, frozenset())

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.additionalSecretOutputs:
            # The engine marks these outputs secret (pulumi-random's `result`, pulumi-tls's private keys);
            # Pulumi's mock monitor does not, so it is done here to keep secrets secret under mocks too.
            registration = self.resources[response.urn]
            state = {k: rpc.wrap_rpc_secret(v) if k in request.additionalSecretOutputs else v for k, v in registration.state.items()}
            response = type(response)(urn=response.urn, id=response.id, object=_sync_await(rpc.serialize_properties(state, {})))
        if request.type != "pulumi:pulumi:Stack":
            inputs, secret_paths = _plain_struct(request.object)
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    depends_on=tuple(sorted(request.dependencies)),
                    protect=bool(request.protect),
                    custom=bool(request.custom),
                    inputs=inputs,
                    secret_inputs=secret_paths,
                    replace_on_changes=tuple(request.replaceOnChanges),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    ignore_changes=tuple(request.ignoreChanges),
                )
            )
        return response

    def RegisterResourceOutputs(self, request):
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs = _plain_struct(request.outputs)
        return super().RegisterResourceOutputs(request)


def run_program(loaded: LoadedConfig, raw: dict[str, str], secret_keys: frozenset[str]) -> ProgramRun:
    """Run __main__.py for one stack under FakeCloud; return the recorded graph and artifacts."""
    cloud = FakeCloud(loaded.stack)
    monitor = RecordingMonitor(cloud)
    set_all_config(raw, sorted(secret_keys))
    pulumi.runtime.set_mocks(cloud, project=PROJECT, stack=loaded.stack, preview=False, monitor=monitor)
    settings.ROOT.set(None)
    artifacts.take()
    _sync_await(run_in_stack(lambda: runpy.run_path(str(PROGRAM), run_name="__main__")))
    run = ProgramRun(stack=loaded.stack, resources=monitor.registrations)
    run.outputs, run.secret_outputs = monitor.stack_outputs
    for artifact in sorted(artifacts.take(), key=lambda a: a.path):
        run.artifacts.append((artifact, _resolve_text(artifact)))
    return run


def _resolve_text(artifact: artifacts.Artifact) -> str:
    content = pulumi.Output.from_input(artifact.content)
    if _sync_await(content.is_secret()):
        raise ValueError(f"artifact {artifact.path} is secret: rendered files must use placeholders")
    text = _sync_await(content.future())
    if not isinstance(text, str):
        raise ValueError(f"artifact {artifact.path} did not resolve to text")
    return text


# --------------------------------------------------------------------------- writing the render


def manifest(run: ProgramRun) -> dict:
    entries = []
    for artifact, text in run.artifacts:
        entry: dict[str, Any] = {"path": artifact.path, "kind": artifact.kind}
        if artifact.host is not None:
            entry["host"] = artifact.host
        if artifact.chart is not None:
            entry["chart"], entry["version"] = artifact.chart, artifact.version
        needs = sorted(placeholders(text))
        if needs:
            entry["secrets"] = needs
        entries.append(entry)
    return {"stack": run.stack, "artifacts": entries}


def write_render(run: ProgramRun, out: Path) -> Path:
    """Replace OUT/STACK with the run's artifacts and manifest.json; return that directory."""
    target = out / run.stack
    if target.exists():
        shutil.rmtree(target)
    for artifact, text in run.artifacts:
        path = target / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if artifact.kind == "script":
            path.chmod(0o755)
    (target / "manifest.json").write_text(json.dumps(manifest(run), indent=2, sort_keys=True) + "\n")
    return target


def render(stack: str, config_file: Optional[Path], out: Path) -> Path:
    loaded, raw, secret_keys = load_stack(stack, config_file)
    return write_render(run_program(loaded, raw, secret_keys), out)
