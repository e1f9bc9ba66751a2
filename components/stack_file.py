"""Reading a stack file (Pulumi.<stack>.yaml) as the engine hands it to the program, and nothing worse.

One loading path for every stack file the project reads: the offline render, the tests, and the
peer stacks' files that the cluster-peer rule consults. It refuses, with a problem naming the key
(or `(file)` when no key can be named), and fast:

- a file larger than MAX_BYTES, or not UTF-8 (a UTF-8 byte order mark is allowed);
- YAML that does not parse, holds more than one document, or is not a mapping with a `config:`
  mapping in it (a missing, misspelled or mistyped `config:` is one problem);
- nesting deeper than MAX_DEPTH, aliases that expand beyond MAX_NODES values or contain
  themselves ("billion laughs" is refused before anything expands it);
- keys that are not strings (YAML 1.1 reads `no:` as false and `020:` as 16: names must be quoted),
  a key given twice, tags other than plain scalars, mappings and lists (dates, binary, sets...),
  and scalars YAML 1.1 reads surprisingly (`yes`/`no`/`on`/`off`, `020`, `0x10`, `1_000`, `1:30`).

Merge keys (`<<: *anchor`) work. A scalar refused here is reported and read on as the string
written, a key that cannot be read is left out, and the rest of the file still goes through
`load_config`, so every problem is reported in one run (each key named once).
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any, Callable, Optional

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .config import (PROJECT, STACK_NAME_PART, ConfigError, LoadedConfig, Problem, Said, StackConfig, child_key, load_config,
                     looks_secret)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

MAX_BYTES = 256 * 1024  # a stack file with 5000 workers is about 120 KiB; PyYAML parses 256 KiB in about 0.5 s
MAX_DEPTH = 16  # levels of mappings and lists from the document down; the stack files need 5
MAX_NODES = 100_000  # values once aliases are expanded
_PARSE_DEPTH = 100  # hard stop while composing, well before Python's recursion limit
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")

FILE = "(file)"
_TAG = "tag:yaml.org,2002:"
_STR, _INT, _BOOL, _NULL, _FLOAT = (_TAG + t for t in ("str", "int", "bool", "null", "float"))
_MAP, _SEQ, _MERGE, _TIMESTAMP = (_TAG + t for t in ("map", "seq", "merge", "timestamp"))
_DECIMAL_INT = re.compile(r"-?(0|[1-9][0-9]{0,19})", re.ASCII)
_DECIMAL_FLOAT = re.compile(r"-?(0|[1-9][0-9]{0,19})\.[0-9]{1,20}", re.ASCII)
_BOOLS = ("true", "false", "True", "False", "TRUE", "FALSE")


class _TooDeep(yaml.composer.ComposerError):
    pass


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that stops composing past _PARSE_DEPTH (its composer recurses per level)."""

    def __init__(self, text: str):
        super().__init__(text)
        self._depth = 0

    def compose_node(self, parent: Optional[Node], index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > _PARSE_DEPTH:
                raise _TooDeep(None, None, f"nesting deeper than {_PARSE_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Stop(Exception):
    """A problem after which the rest of the document is not looked at (its size or shape is hostile)."""

    def __init__(self, problem: Problem):
        super().__init__(problem.expected)
        self.problem = problem


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _shown(text: str, key: str) -> Said:
    """A scalar as the user wrote it (never under a secret-looking key), at most 40 characters."""
    if key and looks_secret(key):
        return Said("[hidden]")
    return Said(text if len(text) <= 40 else text[:37] + "...")


class _Walk:
    """Checks a composed document before anything is constructed from it.

    Each node is visited once (aliases share nodes), so a document is checked in time linear in
    its size however far its aliases would expand. Keys and scalars that are refused are noted
    in `bad` and dropped afterwards by `prune`."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.bad: set[int] = set()  # keys to leave out: lists or mappings used as keys, second copies of a key
        self.as_written: set[int] = set()  # scalars refused, read on as the string the user wrote
        self.seen: dict[int, tuple[int, int]] = {}  # id(node) -> (values once expanded, levels)
        self.open: set[int] = set()

    def fail(self, node: Node, key: str, given: Said, expected: str) -> None:
        self.problems.append(Problem(key, str(given), expected))
        (self.as_written if isinstance(node, ScalarNode) and node.tag != _STR else self.bad).add(id(node))

    def node(self, node: Node, key: str, depth: int, bare: bool = False) -> tuple[int, int]:
        """Check `node` at `depth` (the document is 1); return its expanded size and height."""
        known = self.seen.get(id(node))
        if known is not None:
            if depth + known[1] - 1 > MAX_DEPTH:
                raise _Stop(Problem(key, f"a value nested more than {MAX_DEPTH} levels deep (through an alias)",
                                    f"at most {MAX_DEPTH} levels of mappings and lists"))
            return known
        if id(node) in self.open:
            raise _Stop(Problem(key, "an alias inside the value it names", "aliases that do not contain themselves"))
        if depth > MAX_DEPTH:
            raise _Stop(Problem(key, f"a value nested more than {MAX_DEPTH} levels deep", f"at most {MAX_DEPTH} levels of mappings and lists"))
        self.open.add(id(node))
        if isinstance(node, ScalarNode):
            self.scalar(node, key)
            result = (1, 1)
        elif isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                raise _Stop(Problem(key, f"a list tagged {_short_tag(node.tag)}", "a plain list (no YAML tag)"))
            result = self.children([(f"{key}[{i}]", item, False) for i, item in enumerate(node.value)], key, depth)
        else:
            result = self.mapping(node, key, depth, bare)
        self.open.discard(id(node))
        self.seen[id(node)] = result
        return result

    def children(self, items: list[tuple[str, Node, bool]], key: str, depth: int, size: int = 1, height: int = 1) -> tuple[int, int]:
        for child, item, bare in items:
            s, h = self.node(item, child, depth + 1, bare)
            size, height = size + s, max(height, h + 1)
            if size > MAX_NODES:
                raise _Stop(Problem(key, f"a value that expands to more than {MAX_NODES} values (through aliases)",
                                    f"at most {MAX_NODES} values once aliases are expanded"))
        return size, height

    def mapping(self, node: MappingNode, key: str, depth: int, bare: bool) -> tuple[int, int]:
        if node.tag != _MAP:
            raise _Stop(Problem(key, f"a mapping tagged {_short_tag(node.tag)}", "a plain mapping (no YAML tag)"))
        names: set[str] = set()
        items: list[tuple[str, Node, bool]] = []
        size, height = 1, 1
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE:
                merged = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                if not all(isinstance(m, MappingNode) for m in merged):
                    raise _Stop(Problem(key, "<< with something that is not a mapping", "<< followed by a mapping or a list of mappings"))
                for m in merged:
                    s, h = self.node(m, key, depth, bare)
                    size, height = size + s, max(height, h)
                continue
            if not isinstance(key_node, ScalarNode):
                self.fail(key_node, key, Said("a list or mapping used as a key"), "keys that are plain names")
                continue
            name = key_node.value
            child = child_key("" if bare else key, name)
            if key_node.tag != _STR:
                self.fail(key_node, child, _shown(name, ""), f"a key that is a string: write it in quotes, \"{name}\" "
                          f"(YAML 1.1 reads {name} as {_reading(key_node)})")
                continue
            if name in names:
                self.fail(key_node, child, Said(f"duplicate key {name!r}"), "each key once (a second one must not win silently)")
                continue
            names.add(name)
            items.append((child, value_node, key == FILE and name == "config"))
        return self.children(items, key, depth, size, height)

    def scalar(self, node: ScalarNode, key: str) -> None:
        text, tag = node.value, node.tag
        if tag in (_STR, _NULL):
            return
        if tag == _INT and re.fullmatch(r"[-+]?[1-9][0-9]{20,}", text, re.ASCII):
            self.fail(node, key, _shown(text, key), "a number of at most 20 digits")
        elif tag == _INT and not _DECIMAL_INT.fullmatch(text):
            self.fail(node, key, _shown(text, key), f"a decimal number without leading zeros, or a quoted string "
                      f"(YAML 1.1 reads {_shown(text, key)} as {_reading(node)})")
        elif tag == _BOOL and text not in _BOOLS:
            self.fail(node, key, _shown(text, key), f"true or false, or a quoted string (YAML 1.1 reads {_shown(text, key)} as {_reading(node)})")
        elif tag == _FLOAT and not _DECIMAL_FLOAT.fullmatch(text):
            self.fail(node, key, _shown(text, key), "a decimal number like 1.5, or a quoted string")
        elif tag == _TIMESTAMP:
            self.fail(node, key, _shown(text, key), "a quoted string (YAML reads an unquoted date as a date)")
        elif tag not in (_INT, _BOOL, _FLOAT):
            self.fail(node, key, Said(f"a value tagged {_short_tag(tag)}"), "a plain string, number, true/false or null (no YAML tag)")

    def prune(self, node: Node, done: set[int]) -> None:
        """Leave out the keys that cannot be read, and read every refused scalar as the string written,
        as quoting it would (the problem stays reported; what follows still sees the rest of the file)."""
        if id(node) in done:
            return
        done.add(id(node))
        if isinstance(node, ScalarNode) and id(node) in self.as_written:
            node.tag = _STR
        elif isinstance(node, MappingNode):
            node.value = [(k, v) for k, v in node.value if id(k) not in self.bad]
            for k, v in node.value:
                self.prune(k, done)
                self.prune(v, done)
        elif isinstance(node, SequenceNode):
            for v in node.value:
                self.prune(v, done)


def _reading(node: ScalarNode) -> str:
    """What YAML 1.1 makes of a plain scalar, in words."""
    if node.tag == _BOOL:
        return "true" if node.value.lower() in ("yes", "y", "true", "on") else "false"
    if node.tag == _INT and len(node.value) <= 40:
        try:
            return f"the number {yaml.SafeLoader('').construct_yaml_int(node)}"
        except ValueError:
            pass
    return {_INT: "a number", _FLOAT: "a number", _NULL: "null", _TIMESTAMP: "a date"}.get(node.tag, "something else")


def _yaml_problem(e: yaml.YAMLError) -> Problem:
    """A parse error as a problem: what and where, never the line itself (it may hold a secret)."""
    if isinstance(e, yaml.reader.ReaderError):
        char = e.character if isinstance(e.character, int) else ord(e.character[:1] or b"\0")
        return Problem(FILE, f"the character #x{char:x} at position {e.position}", "printable characters only (YAML allows no control characters)")
    if isinstance(e, yaml.MarkedYAMLError):
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        context = f"{e.context}: " if e.context else ""
        return Problem(FILE, f"{context}{e.problem or 'invalid YAML'}{where}", "valid YAML")
    return Problem(FILE, type(e).__name__, "valid YAML")


def _read_text(path: Path) -> str:
    try:
        if not path.is_file():
            what = "a directory" if path.is_dir() else "a missing file" if not path.exists() else "something that is not a file"
            raise ConfigError(str(path), [Problem(FILE, what, "a readable stack file")])
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise ConfigError(str(path), [Problem(FILE, "a file that cannot be read", f"a readable stack file ({e.strerror})")]) from e
    if len(data) > MAX_BYTES:
        raise ConfigError(str(path), [Problem(FILE, f"more than {MAX_BYTES // 1024} KiB", f"a stack file of at most {MAX_BYTES // 1024} KiB")])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(str(path), [Problem(FILE, "UTF-16 or UTF-32 text (a byte order mark)", "UTF-8 text")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(str(path), [Problem(FILE, f"bytes that are not UTF-8 (the first at byte {e.start})", "UTF-8 text")]) from None


def _document(text: str) -> tuple[Any, list[Problem]]:
    """The document with refused keys and values left out, and the problems found."""
    try:
        loader = _Loader(text)
    except yaml.YAMLError as e:  # the reader checks every character up front
        return None, [_yaml_problem(e)]
    try:
        root = loader.get_single_node()
        if root is None:
            return None, []
        walk = _Walk()
        try:
            walk.node(root, FILE, 1, bare=True)
        except _Stop as stop:
            return None, walk.problems + [stop.problem]
        walk.prune(root, set())
        return loader.construct_document(root), walk.problems
    except yaml.YAMLError as e:
        return None, [_yaml_problem(e)]
    finally:
        loader.dispose()


def _engine_form(value: Any) -> tuple[Any, bool]:
    """Mirror what the engine hands a program: secure values become placeholders (marked secret)."""
    if isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str):
        return "<secret:stack-config>", True
    if isinstance(value, dict):
        items = {k: _engine_form(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items = [_engine_form(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def _entries(document: Any, problems: list[Problem]) -> Optional[dict]:
    """The `config:` mapping of a stack file document, or None (with one problem saying why)."""
    if document is None and not problems:
        problems.append(Problem("config", "an empty file", f"a `config:` mapping of namespaced keys like {PROJECT}:zone"))
        return None
    if document is None:
        return None
    if not isinstance(document, dict):
        kind = "a list" if isinstance(document, list) else "a single value"
        problems.append(Problem(FILE, kind, f"a mapping with a `config:` mapping of namespaced keys like {PROJECT}:zone"))
        return None
    others = sorted(set(document) - set(STACK_FILE_KEYS))
    if "config" not in document and not any(p.key == "config" for p in problems):
        close = difflib.get_close_matches("config", others, n=1, cutoff=0.6)
        found = f"nothing (there is {close[0]!r}: did you mean config?)" if close else "nothing"
        problems.append(Problem("config", found, f"a `config:` mapping of namespaced keys like {PROJECT}:zone"))
        others = [k for k in others if k not in close]
    for key in others:
        problems.append(Problem(child_key("", key), Said("a value"), f"a stack file key: {', '.join(STACK_FILE_KEYS)}"))
    entries = document.get("config")
    if isinstance(entries, dict):
        return entries
    if "config" in document and not any(p.key == "config" for p in problems):
        given = "nothing" if entries is None else "a list" if isinstance(entries, list) else "a single value"
        problems.append(Problem("config", given, f"a mapping of namespaced keys like {PROJECT}:zone"))
    return None


def read_stack_document(path: Path) -> tuple[dict[str, str], frozenset[str], list[Problem]]:
    """A stack file's config as the engine passes it (strings, JSON for objects, secret keys apart),
    with the problems found in the file itself. Raises ConfigError when there is no config to read."""
    document, problems = _document(_read_text(path))
    entries = _entries(document, problems)
    if entries is None:
        raise ConfigError(str(path), problems)
    raw: dict[str, str] = {}
    secret_keys: set[str] = set()
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
    return raw, frozenset(secret_keys), problems


def read_stack_file(path: Path) -> tuple[dict[str, str], frozenset[str]]:
    """A stack file's config as the engine passes it; ConfigError on any problem in the file itself."""
    raw, secret_keys, problems = read_stack_document(path)
    if problems:
        raise ConfigError(str(path), problems)
    return raw, secret_keys


def peer_configs(directory: Path) -> Callable[[str], Optional[StackConfig]]:
    """Peer stacks' validated configs, read from their stack files in `directory` (beside the stack file
    being read). A peer without a stack file there, or whose file does not load (its own render says
    why), gives None: only its name is checked then."""

    def peer(stack: str) -> Optional[StackConfig]:
        path = directory / f"Pulumi.{stack}.yaml"
        if not STACK_NAME_PART.fullmatch(stack) or not path.is_file():
            return None
        try:
            raw, secret_keys, problems = read_stack_document(path)
            return None if problems else load_config(raw, stack=stack, source=path.name, secret_keys=secret_keys).config
        except ConfigError:
            return None

    return peer


def load_stack(stack: str, config_file: Optional[Path] = None) -> tuple[LoadedConfig, dict[str, str], frozenset[str]]:
    """Read and validate a stack's file (default Pulumi.STACK.yaml in the project root); cluster peers'
    stack files are looked for beside it."""
    path = config_file or PROJECT_ROOT / f"Pulumi.{stack}.yaml"
    label = path.name if path.parent == PROJECT_ROOT else str(path)
    try:
        raw, secret_keys, problems = read_stack_document(path)
    except ConfigError as e:
        raise ConfigError(label, e.problems) from None
    loaded = load_config(raw, stack=stack, source=label, secret_keys=secret_keys, earlier=tuple(problems),
                         peers=peer_configs(path.parent))
    return loaded, raw, secret_keys
