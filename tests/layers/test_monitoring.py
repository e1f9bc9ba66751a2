"""The monitoring layer: the project's dashboards, each file one dashboard that a ConfigMap holds, and a broken or
oversized one refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.config import ConfigError
from components.offline import PROJECT_ROOT
from components.render import dashboards


def _dashboard_files() -> list[Path]:
    return sorted((PROJECT_ROOT / "dashboards").glob("*.json"))


def test_the_project_dashboards_are_there_valid_and_stable():
    names = {p.stem for p in _dashboard_files()}
    assert {"cluster-overview", "ceph", "bgp-ecmp", "gateway-traffic", "wireguard-peers", "prometheus-storage", "flows"} <= names
    for path in _dashboard_files():
        board = json.loads(path.read_text())
        assert board["uid"] == f"contest-{path.stem}", "a uid that never changes with the title"
        assert dashboards.problems(path.stem, path.read_text()) == []
        variables = {v["name"] for v in board["templating"]["list"] if v["type"] == "datasource"}
        for panel in board["panels"]:
            uid = panel["datasource"]["uid"]
            assert uid.startswith("${") and uid[2:-1] in variables, (path.name, panel["title"])
            assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
    assert len({json.loads(p.read_text())["uid"] for p in _dashboard_files()}) == len(_dashboard_files())


def _project_with(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "dashboards").mkdir(parents=True)
    for name, text in files.items():
        (tmp_path / "dashboards" / name).write_text(text)
    return tmp_path


def test_an_oversized_or_broken_dashboard_is_refused_by_name(tmp_path):
    good = (PROJECT_ROOT / "dashboards" / "ceph.json").read_text()
    board = json.loads(good)
    board["uid"], board["description"] = "contest-huge", "x" * (1024 * 1024)
    no_variable = json.loads(good)
    no_variable["uid"], no_variable["templating"] = "contest-plain", {"list": []}
    project = _project_with(tmp_path, {"ceph.json": good, "huge.json": json.dumps(board), "broken.json": "{", "plain.json": json.dumps(no_variable),
                                       "copy.json": good, "Bad_Name.json": good})
    with pytest.raises(ConfigError) as caught:
        dashboards.load(project)
    named = {p.key: p.expected for p in caught.value.problems}
    assert set(named) == {"dashboards/huge.json", "dashboards/broken.json", "dashboards/plain.json", "dashboards/copy.json",
                          "dashboards/Bad_Name.json"}
    assert "at most" in named["dashboards/huge.json"] and "what one ConfigMap holds" in named["dashboards/huge.json"]
    assert "data-source variable" in named["dashboards/plain.json"] and "uid of its own" in named["dashboards/copy.json"]
    assert str(caught.value).startswith("invalid stack configuration\ndashboards: dashboards/")
    assert dashboards.load(_project_with(tmp_path / "ok", {"ceph.json": good})) != ()
