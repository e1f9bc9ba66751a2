"""components/app_project.py decides like Argo CD v3.4: sources by normalised URL and `/`-separated globs, destinations by
server or name and namespace, `!` denying. Each case is one rule of AppProject.IsSourcePermitted / isDestinationMatched
(pkg/apis/application/v1alpha1/app_project_types.go) or of gobwas/glob, with the answer Argo CD gives; every glob here is
also put to gobwas/glob v0.2.3 itself (the version Argo CD v3.4.4 pins), built with Go from the module cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from components.app_project import (Destination, destination_permitted, glob_match, gobwas_match, normalize_git_url,
                                    source_permitted)
from components.offline import PROJECT_ROOT

ORG = "https://github.com/example-contest"

SOURCES = [
    # (sourceRepos, application's repoURL, permitted)
    (["*"], f"{ORG}/score-server-deploy.git", True),
    ([f"{ORG}/score-server-deploy.git"], f"{ORG}/score-server-deploy", True),  # .git is dropped on both sides
    ([f"{ORG}/score-server-deploy"], "HTTPS://GitHub.com/Example-Contest/Score-Server-Deploy.git ", True),  # case, spaces
    (["git@github.com:example-contest/score-server-deploy.git"], "ssh://git@github.com/example-contest/score-server-deploy", True),
    ([f"{ORG}/*"], f"{ORG}/anything.git", True),
    ([f"{ORG}/*"], f"{ORG}/group/repo", False),  # * stops at /
    ([f"{ORG}/**"], f"{ORG}/group/repo", True),  # ** does not
    ([f"{ORG}/*/*"], f"{ORG}/group/repo", True),
    ([f"{ORG}/score-*"], f"{ORG}/score-server", True),
    ([f"{ORG}/score"], f"{ORG}/score-server", False),  # the whole URL must match
    ([f"{ORG}/score-server-deploy.git"], "https://github.com/someone-else/score-server-deploy.git", False),
    ([f"{ORG}/{{score,web}}-deploy"], f"{ORG}/web-deploy", True),
    ([f"{ORG}/[!x]*"], f"{ORG}/x-deploy", False),
    ([f"{ORG}/[a-m]*"], f"{ORG}/n-deploy", False),
    ([f"{ORG}/[a-m"], f"{ORG}/[a-m", False),  # a glob that does not compile matches nothing
    (["*", f"!{ORG}/forbidden"], f"{ORG}/forbidden.git", False),  # a deny entry wins
    (["*", f"!{ORG}/forbidden"], f"{ORG}/allowed", True),
    ([f"!{ORG}/forbidden"], f"{ORG}/allowed", True),  # a deny entry matches what it does not name: alone, it permits the rest
    ([], f"{ORG}/anything", False),
]


@pytest.mark.parametrize("repos, url, permitted", SOURCES)
def test_sources_are_permitted_as_argo_cd_permits_them(repos, url, permitted):
    assert source_permitted(repos, url) is permitted


def test_urls_are_compared_in_argo_cds_normal_form():
    assert normalize_git_url(" git@GitHub.com:Org/Repo.git") == "git@github.com/org/repo"
    assert normalize_git_url("https://github.com/org/repo.git") == "https://github.com/org/repo"
    assert normalize_git_url("ssh://git@github.com:org/repo") == "", "a port that is not a number: Go's url.Parse fails"


PRD = [Destination("score-server", name="prd")]
VIP, CP1 = "https://192.0.2.6:6443", "https://192.0.2.7:6443"
DESTINATIONS = [
    # (project's destinations, the application's cluster and namespace, permitted)
    (PRD, Destination("score-server", server=VIP, name="prd"), True),
    (PRD, Destination("kube-system", server=VIP, name="prd"), False),  # another namespace
    (PRD, Destination("score-server", server="https://198.51.100.6:6443", name="dev"), False),  # another cluster
    (PRD, Destination("score-server", server=CP1), False),  # one control plane, not the registered cluster
    ([Destination("*", server=VIP)], Destination("anything", server=VIP, name="prd"), True),
    ([Destination("score-*", server="https://192.0.2.*")], Destination("score-web", server=VIP), True),  # no separator here
    ([Destination("*", server=f"!{VIP}")], Destination("default", server=VIP), False),
    ([Destination("default", server=f"!{CP1}")], Destination("default", server=VIP), True),
    ([Destination("!kube-*", server=VIP)], Destination("kube-system", server=VIP), False),
    ([Destination("!kube-*", server=VIP)], Destination("score-server", server=VIP), True),
    ([Destination("*", server="*"), Destination("!kube-system", server="*")], Destination("kube-system", server=VIP), False),
    ([Destination("*", name="!prd")], Destination("score-server", name="prd"), False),
    ([Destination("*", name="!dev")], Destination("score-server", name="prd"), True),
    ([], Destination("score-server", server=VIP, name="prd"), False),
]


@pytest.mark.parametrize("destinations, target, permitted", DESTINATIONS)
def test_destinations_are_permitted_as_argo_cd_permits_them(destinations, target, permitted):
    assert destination_permitted(destinations, target) is permitted


def test_globs_are_gobwas_globs():
    assert glob_match("a/*/c", "a/b/c", allow_negation=False, separators="/")
    assert not glob_match("a/*", "a/b/c", allow_negation=False, separators="/")
    assert glob_match("a/?", "a/b", allow_negation=False, separators="/")
    assert not glob_match("a?b", "a/b", allow_negation=False, separators="/")
    assert glob_match(r"a\*", "a*", allow_negation=False) and not glob_match(r"a\*", "ab", allow_negation=False)
    assert glob_match("{a,b{c,d}}", "bd", allow_negation=False) and glob_match("{a,b", "a", allow_negation=False), "closed at the end"
    assert glob_match("a/**/c", "a/c", allow_negation=False, separators="/"), "gobwas's prefix and suffix may overlap"
    assert glob_match("!a", "b", allow_negation=True) and not glob_match("!a", "b", allow_negation=False)


# Globs beyond the tables' own: what gobwas/glob does with classes, alternatives, escapes, stars and separators.
EXTRA_GLOBS = [
    ("a/*/c", "a/b/c", "/"), ("a/*", "a/b/c", "/"), ("a/**", "a/b/c", "/"), ("a/**/c", "a/c", "/"), ("a?b", "a/b", "/"),
    ("a?b", "a/b", ""), ("*", "", ""), ("", "", ""), ("**", "a/b", "/"), ("a*", "a/b", ""), (r"a\*", "a*", ""), (r"a\*", "ab", ""),
    ("{a,b{c,d}}", "bd", ""), ("{a,b", "a", ""), ("{}", "", ""), ("a,b", "a,b", ""), ("a}", "a}", ""), ("[!a]x", "bx", ""),
    ("[!a]x", "ax", ""), ("[a-c]", "b", ""), ("[c-a]", "b", ""), ("[a", "[a", ""), ("[]", "", ""), ("[ab-]", "-", ""),
    ("[^a]", "b", ""), ("[^a]", "^", ""), ("[!/]", "/", "/"), ("?", "/", "/"), ("*.example.org", "a.b.example.org", "."),
    ("https://github.com/*/*", "https://github.com/org/repo", "/"), ("https://github.com/org/*.git", "https://github.com/org/x.git", "/"),
    ("a\\", "a", ""), ("a**b", "axyb", ""), ("a***b", "a/x/b", "/"), ("*/", "a/", "/"),
    ("ab**ba", "aba", ""), ("ab*ba", "aba", ""), ("ab*ba", "aba", "/"), ("a/*/c", "a/c", "/"), ("a/*/c", "a//c", "/"),
    ("ab**bc**cd", "abcd", ""), ("a/**", "a", "/"), ("a/**/b/**/c", "a/b/c", "/"), ("{a,b}**{a,b}", "a", ""),
    ("ab[c]**ca", "abca", ""), ("https://github.com/org/**/x", "https://github.com/org/x", "/"), ("\\", "", ""),
    ("{a,{b,c", "c", ""), ("a}b{c", "a}bc", ""), ("x{a,b}*{c,d}y", "xacy", ""), ("a*c*", "abc", "/"),
]


def _go() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
    if found is None:
        pytest.skip("needs go (scripts/toolchain.sh uses /usr/local/go/bin/go) to build tests/checks/globmatch")
    return found


def test_the_globs_agree_with_gobwas_glob_itself(tmp_path):
    go = _go()
    source = PROJECT_ROOT / "tests" / "checks" / "globmatch"
    environment = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "GOPROXY": os.environ.get("GOPROXY", "off")}
    built = subprocess.run([go, "build", "-o", str(tmp_path / "globmatch"), "."], cwd=source, env=environment,
                           capture_output=True, text=True, timeout=300)
    if built.returncode != 0:
        pytest.skip(f"cannot build tests/checks/globmatch (github.com/gobwas/glob v0.2.3 not in the module cache?): {built.stderr[-300:]}")
    cases = [(p, t, "/") for repos, url, _ in SOURCES for p in repos for t in [normalize_git_url(url)]]
    cases = [(p[1:] if p.startswith("!") else p, t, s) for p, t, s in cases]
    cases += [(pattern, text, "") for destinations, target, _ in DESTINATIONS for d in destinations
              for pattern, text in ((d.namespace, target.namespace), (d.server, target.server), (d.name, target.name))]
    cases += EXTRA_GLOBS
    answered = subprocess.run([str(tmp_path / "globmatch")], input=json.dumps(
        [{"pattern": p, "text": t, "separators": s} for p, t, s in cases]), capture_output=True, text=True, timeout=60, check=True)
    theirs = json.loads(answered.stdout)
    differ = [(case, answer) for case, answer in zip(cases, theirs) if gobwas_match(*case) is not answer]
    assert len(theirs) == len(cases) > 60 and differ == []
