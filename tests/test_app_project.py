"""components/app_project.py decides like Argo CD v3.4: sources by normalised URL and `/`-separated globs, destinations by
server or name and namespace, `!` denying. Each case is one rule of AppProject.IsSourcePermitted / isDestinationMatched
(pkg/apis/application/v1alpha1/app_project_types.go) or of gobwas/glob, with the answer Argo CD gives."""

from __future__ import annotations

import pytest

from components.app_project import Destination, destination_permitted, glob_match, normalize_git_url, source_permitted

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
    assert glob_match("{a,b{c,d}}", "bd", allow_negation=False) and not glob_match("{a,b", "a", allow_negation=False)
    assert glob_match("!a", "b", allow_negation=True) and not glob_match("!a", "b", allow_negation=False)
