"""Which sources and destinations an Argo CD AppProject permits, decided the way Argo CD v3.4 decides it.

The config refuses an application its own environment's project would refuse (config.py), and the
tests show prd's project refusing what it does not list; both need Argo CD's rules, not a guess:

- `source_permitted`: AppProject.IsSourcePermitted (pkg/apis/application/v1alpha1/app_project_types.go).
  Both the application's repository URL and every `sourceRepos` entry are normalised as
  util/git.NormalizeGitURL does (trimmed, lower case, `user@host:path` as `user@host/path`, no `.git`);
  an entry is a glob with `/` as separator; `!entry` denies, and a deny entry that does not match
  refuses the source whatever else matched; otherwise any matching entry permits it.
- `destination_permitted`: AppProject.isDestinationMatched: a destination entry matches when its
  server (or name) and its namespace match, each a glob without separators, `!` denying.

The globs are github.com/gobwas/glob's, which util/glob compiles: `*` is any run of characters but
separators, `**` any run at all, `?` one character but a separator, `[abc]`, `[a-z]` and `[!abc]` one
character of a class, `{a,b}` one of the alternatives, `\\` escapes; a pattern that does not compile
matches nothing, and a lone `*` matches everything. gobwas/glob's quirks are kept: alternatives still
open at the end of a pattern are closed there, an escape at the end escapes nothing, and `TEXT**TEXT`
lets the two texts overlap. This is a transcription of those rules: tests/test_app_project.py puts
every glob it uses to gobwas/glob v0.2.3 itself (Go, from the module cache) and compares the answers;
Argo CD's own code (the normalisation, `!`, the loops above the globs) does not run here.

Pure: nothing here imports Pulumi, the config or the plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlsplit

_SSH_URL = re.compile(r"^(ssh://)?([^/:]*?)@[^@]+$")


def normalize_git_url(repo: str) -> str:
    """util/git.NormalizeGitURL: the form Argo CD compares repository URLs in ("" when it is not a URL)."""
    repo = repo.strip().lower()
    if _SSH_URL.match(repo) and not repo.startswith("ssh://"):
        repo = "ssh://" + repo.replace(":", "/", 1)
    repo = repo.removesuffix(".git")
    try:
        parts = urlsplit(repo)
        parts.port  # noqa: B018: Go's url.Parse refuses a port that is not a number
    except ValueError:
        return ""
    return parts.geturl().removeprefix("ssh://")


class _Syntax(Exception):
    """A glob gobwas/glob does not compile."""


def _translate(pattern: str, separators: str) -> str:
    """The regular expression of a gobwas glob (the whole text must match)."""
    one = f"[^{re.escape(separators)}]" if separators else "."
    out: list[str] = []
    i, depth = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(re.escape(pattern[i + 1:i + 2]))  # an escape at the very end escapes nothing
            i += 2
            continue
        if c == "*":
            stars = len(pattern[i:]) - len(pattern[i:].lstrip("*"))
            out.append(".*" if stars > 1 or not separators else f"{one}*")
            i += stars
            continue
        if c == "?":
            out.append(one)
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise _Syntax("unclosed [")
            body = pattern[i + 1:end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            if not body:
                raise _Syntax("empty class")
            items, j = [], 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    if body[j] > body[j + 2]:
                        raise _Syntax("reversed range")
                    items.append(f"{re.escape(body[j])}-{re.escape(body[j + 2])}")
                    j += 3
                else:
                    items.append(re.escape(body[j]))
                    j += 1
            out.append(f"[{'^' if negate else ''}{''.join(items)}]")
            i = end
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "," and depth:
            out.append("|")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out) + ")" * depth  # alternatives still open at the end are closed there


def glob_match(pattern: str, value: str, *, allow_negation: bool, separators: str = "") -> bool:
    """Argo CD's globMatch: `!pattern` (when negation is allowed) matches what the pattern does not; `*` everything."""
    if allow_negation and pattern.startswith("!"):
        return not gobwas_match(pattern[1:], value, separators)
    if pattern == "*":
        return True
    return gobwas_match(pattern, value, separators)


_LITERAL = re.compile(r"[^*?\[\]{}\\]+")


def _prefix_suffix(pattern: str, separators: str) -> tuple[str, str] | None:
    """TEXT, a run of stars that crosses separators, TEXT: gobwas/glob compiles that to its PrefixSuffix matcher, which
    lets the prefix and the suffix overlap (`ab**ba` matches `aba`, `a/**/c` matches `a/c`)."""
    parts = re.fullmatch(r"([^*]+)(\*+)([^*]+)", pattern)
    if parts is None or not (_LITERAL.fullmatch(parts[1]) and _LITERAL.fullmatch(parts[3])):
        return None
    return (parts[1], parts[3]) if len(parts[2]) > 1 or not separators else None


def gobwas_match(pattern: str, value: str, separators: str = "") -> bool:
    """gobwas/glob.Compile(pattern, separators...).Match(value), as util/glob.Match calls it (false when it does not compile)."""
    overlapping = _prefix_suffix(pattern, separators)
    if overlapping is not None:
        return value.startswith(overlapping[0]) and value.endswith(overlapping[1])
    try:
        expression = _translate(pattern, separators)
    except _Syntax:
        return False
    return re.fullmatch(expression, value, re.DOTALL) is not None


def source_permitted(source_repos: Sequence[str], repo_url: str) -> bool:
    """Whether a project with these `sourceRepos` lets an application take manifests from `repo_url`."""
    source = normalize_git_url(repo_url)
    matched = False
    for entry in source_repos:
        normalized = "!" + normalize_git_url(entry[1:]) if entry.startswith("!") else normalize_git_url(entry)
        if glob_match(normalized, source, allow_negation=True, separators="/"):
            matched = True
        elif normalized.startswith("!"):
            return False
    return matched


@dataclass(frozen=True)
class Destination:
    """An AppProject destination entry, or the cluster and namespace an application is deployed to."""

    namespace: str
    server: str = ""
    name: str = ""


def destination_permitted(destinations: Sequence[Destination], target: Destination) -> bool:
    """Whether a project with these `destinations` lets an application deploy to `target` (a cluster's server and
    name, and a namespace)."""
    matched = False
    for item in destinations:
        name = target.name != "" and glob_match(item.name, target.name, allow_negation=True)
        server = target.server != "" and glob_match(item.server, target.server, allow_negation=True)
        namespace = glob_match(item.namespace, target.namespace, allow_negation=True)
        if (server or name) and namespace:
            matched = True
        elif (not name and item.name.startswith("!")) or (not server and item.server.startswith("!") and namespace):
            return False
        elif not namespace and item.namespace.startswith("!") and server:
            return False
    return matched

