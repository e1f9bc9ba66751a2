"""Run the real Pulumi program under mocks: the offline render and the tests' resource graph.

`run_program` executes `__main__.py` exactly as `pulumi up` would, but against `FakeCloud`,
and records every registration (type, name, parent, dependencies, protect, inputs with their
secret paths) plus the stack outputs and the published artifacts. `render` writes those
artifacts and a manifest under `OUT/STACK/` for review in a pull request.
"""

from __future__ import annotations

import json
import logging
import os
import runpy
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Optional

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from . import artifacts
from .config import DNS_LABEL, PROJECT, LoadedConfig, describe
from .diagram import draw
from .mocking import FakeCloud
from .render.secrets import placeholders
from .stack_file import PROJECT_ROOT, load_stack, read_stack_file  # noqa: F401  (read_stack_file: re-exported)

PROGRAM = PROJECT_ROOT / "__main__.py"


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
    outputs: dict = field(default_factory=dict)  # what the (fake) cloud answered: the resource's state
    id: str = ""
    provider: str = ""  # the provider reference (URN::ID) a custom resource was registered with
    providers: dict = field(default_factory=dict)  # package -> provider reference, as a component hands them down
    secret_outputs: tuple[str, ...] = ()  # outputs the engine keeps secret in the state whatever the inputs (a Secret's data)
    retain_on_delete: bool = False

    @property
    def short_type(self) -> str:
        return self.type.rsplit(":", 1)[-1]


@dataclass
class ProgramRun:
    stack: str
    resources: list[Registration] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the program warned about (pulumi.log.warn), in order
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
            self._record(request, response)
        return response

    def _record(self, request, response) -> None:
        inputs, secret_paths = _plain_struct(request.object)
        outputs, _ = _plain_struct(response.object)
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
                outputs=outputs,
                id=response.id,
                provider=request.provider,
                providers=dict(request.providers),
                secret_outputs=tuple(request.additionalSecretOutputs),
                retain_on_delete=bool(request.retainOnDelete),
            )
        )

    def RegisterResourceOutputs(self, request):
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs = _plain_struct(request.outputs)
        return super().RegisterResourceOutputs(request)


def run_program(loaded: LoadedConfig, raw: dict[str, str], secret_keys: frozenset[str], *,
                monitor: Optional[RecordingMonitor] = None, preview: bool = False) -> ProgramRun:
    """Run __main__.py for one stack under FakeCloud (or `monitor`); return the recorded graph and artifacts.

    With `preview`, the program runs as in `pulumi preview`, where the monitor may answer unknown values;
    the artifacts are then not resolved."""
    monitor = monitor or RecordingMonitor(FakeCloud(loaded.stack))
    set_all_config(raw, sorted(secret_keys))
    warnings = _WarningLog()
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=loaded.stack, preview=preview, monitor=monitor,
                             logger=warnings.logger)
    settings.ROOT.set(None)
    artifacts.take()
    _sync_await(run_in_stack(lambda: runpy.run_path(str(PROGRAM), run_name="__main__")))
    run = ProgramRun(stack=loaded.stack, resources=monitor.registrations, warnings=warnings.messages)
    run.outputs, run.secret_outputs = monitor.stack_outputs
    published = sorted(artifacts.take(), key=lambda a: a.path)
    if not preview:
        run.artifacts = [(artifact, _resolve_text(artifact)) for artifact in published]
    return run


class _WarningLog(logging.Handler):
    """Where the mock engine logs: the program's warnings are kept for the caller to show (the render prints them),
    not printed by whichever command ran the program. They still reach the root logger's handlers, where there are
    any (pytest's caplog); with none, Python's last-resort printing stays off, since this handler took them."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.Logger("contest-k8s.program")
        self.logger.parent = logging.getLogger()
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


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


class OutputError(Exception):
    """The render cannot go where it was asked to; nothing there was changed."""

    def __init__(self, key: str, given: str, expected: str):
        super().__init__(f"{key}: expected {expected}; given {given}")


def render_target(stack: str, out: Path) -> Path:
    """OUT/STACK, once the stack name is a DNS label and OUT/STACK is nothing or an earlier render of it."""
    if not DNS_LABEL.fullmatch(stack):
        raise OutputError("STACK", describe(stack), "a stack name that is a DNS label (lower-case letters, digits, '-'), like prd")
    if out.exists() and not out.is_dir():
        raise OutputError("--out", f"{describe(str(out))}, which is not a directory", "a directory to write STACK/ in")
    target = out / stack
    if target.is_symlink() or (target.exists() and not _earlier_render(target, stack)):
        raise OutputError("--out", f"{describe(str(target))}, which is not a render of {stack}",
                          "a directory where STACK/ is missing, empty or an earlier render (with its manifest.json); "
                          "move it away or choose another --out")
    return target


def _earlier_render(target: Path, stack: str) -> bool:
    if not target.is_dir():
        return False
    if not any(target.iterdir()):
        return True
    try:
        earlier = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(earlier, dict) and earlier.get("stack") == stack


def _inside(path: str) -> PurePosixPath:
    """An artifact path, which must stay inside the render directory."""
    relative = PurePosixPath(path)
    if relative.is_absolute() or any(part in ("", ".", "..") for part in path.split("/")):
        raise ValueError(f"artifact path {path!r} leaves the render directory")
    return relative


def write_render(run: ProgramRun, out: Path) -> Path:
    """Replace OUT/STACK with the run's artifacts and manifest.json, all at once; return that directory.

    The files are written to a new directory beside OUT/STACK, which then takes its place by
    rename; the earlier render is moved aside and removed only after that. Nothing else is touched.
    A `diagram` artifact (DOT text) is drawn by Graphviz's dot first: without dot, nothing is written."""
    target = render_target(run.stack, out)
    files = [(_inside(artifact.path), artifact, draw(text, name=artifact.path) if artifact.kind == "diagram" else text.encode("utf-8"))
             for artifact, text in run.artifacts]
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{run.stack}.", suffix=".new", dir=out))
    except OSError as e:
        raise OutputError("--out", describe(str(out)), f"a directory the render can write in ({e.strerror})") from None
    try:
        for relative, artifact, content in files:
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            if artifact.kind == "script":
                path.chmod(0o755)
        (staging / "manifest.json").write_text(json.dumps(manifest(run), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        staging.chmod(0o755)
        _replace(target, staging)
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError("--out", describe(str(out)), f"a directory the render can write in ({e.strerror})") from None
    return target


def _replace(target: Path, staging: Path) -> None:
    if not target.exists():
        os.rename(staging, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rename(target, aside / target.name)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(aside / target.name, target)
        aside.rmdir()
        raise
    shutil.rmtree(aside)


def render(stack: str, config_file: Optional[Path], out: Path) -> Path:
    """Check where the render goes, read and validate the stack file, run the program (its warnings on stderr), write
    OUT/STACK."""
    render_target(stack, out)
    loaded, raw, secret_keys = load_stack(stack, config_file)
    run = run_program(loaded, raw, secret_keys)
    for warning in run.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return write_render(run, out)
