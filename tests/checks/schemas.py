"""Schema checks against the pinned upstream data in ../shared/upstream/.

- CRDs: the served version's openAPIV3Schema, made strict as the upstream README prescribes
  (`additionalProperties: false` wherever an object lists properties and allows nothing else),
  because the API server would silently prune a misspelled field such as `peerAsn`.
- kubeadm, kubelet and kube-proxy configs: the strict draft-07 schemas in kubernetes/.
- Helm values: every key set must exist in the chart's default values.yaml (items of a list: in the default
  list's items), maps listed as free-form excepted; the values as Helm merges them (`coalesce`) must pass the
  chart's values.schema.json where it has one.
- Argo CD's config-management plugin file: the fields of ConfigManagementPlugin's spec (`PLUGIN_SPEC`), strict.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml
from jsonschema import Draft7Validator

# kube-prometheus-stack's AlertmanagerConfig CRD has an unquoted `- =` enum value, which YAML 1.1 tags as a `value`
# that PyYAML has no constructor for (../shared/upstream/README.md): read it as the string it is.
for _loader in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    _loader.add_constructor("tag:yaml.org,2002:value", _loader.construct_yaml_str)


def strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@lru_cache(maxsize=None)
def _crd_validators(crd_dir: str) -> dict[tuple[str, str], Draft7Validator]:
    validators = {}
    for path in sorted(Path(crd_dir).glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served"):
                    continue
                schema = strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                props = schema.setdefault("properties", {})
                props.setdefault("apiVersion", {"type": "string"})
                props.setdefault("kind", {"type": "string"})
                props["metadata"] = {"type": "object"}
                validators[(f"{group}/{version['name']}", kind)] = Draft7Validator(schema)
    return validators


def crd_errors(objects: Iterable[dict], crd_dir: Path | Iterable[Path]) -> list[str]:
    """Every way `objects` break the strict schema of their served CRD version, found in `crd_dir` (or in any of several)."""
    dirs = [crd_dir] if isinstance(crd_dir, Path) else list(crd_dir)
    validators = {key: v for d in dirs for key, v in _crd_validators(str(d)).items()}
    errors = []
    for obj in objects:
        validator = validators.get((obj.get("apiVersion"), obj.get("kind")))
        if validator is None:
            errors.append(f"{obj.get('kind')} {obj.get('apiVersion')}: no served CRD version in {', '.join(map(str, dirs))}")
            continue
        for e in validator.iter_errors(obj):
            errors.append(f"{obj['kind']}/{obj.get('metadata', {}).get('name')} {'.'.join(map(str, e.absolute_path))}: {e.message}")
    return errors


KUBERNETES_SCHEMAS = {
    "kubeadm.k8s.io/": "kubeadm-v1beta4.schema.json",
    "kubelet.config.k8s.io/": "kubelet-v1beta1.schema.json",
    "kubeproxy.config.k8s.io/": "kube-proxy-v1alpha1.schema.json",
}


@lru_cache(maxsize=None)
def _kubernetes_validators(schema_dir: str) -> dict[str, Draft7Validator]:
    return {prefix: Draft7Validator(json.loads((Path(schema_dir) / name).read_text())) for prefix, name in KUBERNETES_SCHEMAS.items()}


def kubernetes_config_errors(text: str, schema_dir: Path) -> list[str]:
    """All schema errors in a multi-document kubeadm --config file, as 'doc N kind path: msg'."""
    validators = _kubernetes_validators(str(schema_dir))
    out = []
    for n, doc in enumerate(d for d in yaml.safe_load_all(text) if d is not None):
        api_version = doc.get("apiVersion", "")
        validator = next((v for p, v in validators.items() if api_version.startswith(p)), None)
        if validator is None:
            out.append(f"doc {n}: no schema for apiVersion {api_version!r}")
            continue
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            out.append(f"doc {n} {doc.get('kind')} {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
    return out


def _merged(items: list) -> Any:
    """The items of a default list folded into one: every key any of them has."""
    merged: Any = {}
    for item in items:
        merged = coalesce(merged, item) if isinstance(item, dict) and isinstance(merged, dict) else item
    return merged


def unknown_helm_keys(values: Any, defaults: Any, free_form: tuple[str, ...] = (), path: str = "") -> list[str]:
    """Keys in `values` that the chart's default values do not have.

    A map listed in `free_form` takes anything (`a.b`, or `a[].b` for a key of every item of list `a`). The items of
    a list are checked against the default list's items (all of them folded into one); a list whose default is
    empty or holds no maps takes anything."""
    if path and re.sub(r"\[\d+\]", "[]", path) in free_form:
        return []
    if isinstance(values, list):
        if not isinstance(defaults, list) or not defaults or not isinstance(_merged(defaults), dict):
            return []
        item_defaults = _merged(defaults)
        return [u for i, item in enumerate(values) for u in unknown_helm_keys(item, item_defaults, free_form, f"{path}[{i}]")]
    if not isinstance(values, dict):
        return []
    if not isinstance(defaults, dict):
        return [] if defaults in ({}, None) else [f"{path or '(root)'}: the chart's default is not a map"]
    unknown = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        if key not in defaults:
            unknown.append(where)
        else:
            unknown += unknown_helm_keys(value, defaults[key], free_form, where)
    return unknown


def coalesce(defaults: Any, values: Any) -> Any:
    """The values a chart's templates see, as Helm merges them: maps key by key, anything else (lists too) replaced,
    a null deleting the default."""
    if not isinstance(defaults, dict) or not isinstance(values, dict):
        return copy.deepcopy(values)
    merged = copy.deepcopy(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = coalesce(merged.get(key), value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
                else copy.deepcopy(value)
    return merged


# ConfigManagementPlugin's spec (cmpserver/plugin/config.go, Argo CD v3.4.4), strict: the file format the sidecar reads.
_COMMAND = {"type": "object", "additionalProperties": False, "properties": {
    "command": {"type": "array", "items": {"type": "string"}}, "args": {"type": "array", "items": {"type": "string"}}}}
PLUGIN_SPEC = {"type": "object", "additionalProperties": False, "required": ["generate"], "properties": {
    "version": {"type": "string"}, "init": _COMMAND,
    "generate": {**_COMMAND, "required": ["command"], "properties": {**_COMMAND["properties"], "command": {"type": "array", "minItems": 1}}},
    "discover": {"type": "object", "additionalProperties": False, "properties": {
        "fileName": {"type": "string"}, "find": {**_COMMAND, "properties": {**_COMMAND["properties"], "glob": {"type": "string"}}}}},
    "parameters": {"type": "object"}, "preserveFileMode": {"type": "boolean"}, "provideGitCreds": {"type": "boolean"}}}
