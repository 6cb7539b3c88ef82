"""Reports a user can find: every report kind written to a path, opened, served over REST."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.cli._common import state
from forgeml.core.reports import KINDS
from forgeml.core.workspace import Workspace
from forgeml.errors import NotFoundError, ValidationError
from forgeml.settings import load_settings
from tests.cli_runner import run_cli
from tests.evaluation.helpers import loans_frame, parse_html, save_binary
from tests.registry.conftest import _one_thread  # noqa: F401  (autouse: OpenMP pinned to 1 thread)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One stored report of every kind, made from a registered model (``model/cancer:1``)."""
    from threadpoolctl import threadpool_limits

    root = tmp_path_factory.mktemp("reports")
    ws = Workspace(load_settings(home=str(root / "ws")))
    frame = loans_frame(200, seed=2)[["income", "debt", "black", "approve"]]
    with threadpool_limits(limits=1):
        ws.datasets.create("cancer", frame)
        ws.registry.register("cancer", save_binary(root / "pkg", frame, kind="logistic"))
        baseline = ws.monitoring.baseline("cancer", name="cancer")
        refs = {
            "data-profile": ws.prep.profile("cancer")["record"],
            "data-validation": ws.prep.validate("cancer", 'Rules = [ IsComplete "income", RowCount > 500 ]')["record"],
            "evaluation": ws.evaluation.evaluate("model/cancer:1", "cancer", name="cancer").ref,
            "bias-report": ws.clarify.bias("cancer", label="approve", facets=["black=1"], model="cancer:1").ref,
            "explanation": ws.clarify.explain("model/cancer@latest", "dataset/cancer:1", max_rows=20, top_k_features=1).ref,
            "model-card": ws.evaluation.model_card("cancer:1", evaluation="cancer", name="cancer").ref,
            "model": ws.registry.compile("cancer:1", holdout="cancer").ref,
            "monitoring-execution": ws.monitoring.check(baseline, "cancer", name="cancer").ref,
        }
    refs = {k: v if isinstance(v, str) else f"{v['kind']}/{v['name']}:{v['version']}" for k, v in refs.items()}
    try:
        yield {"ws": ws, "refs": refs, "root": root}
    finally:
        ws.close()


def _cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    state.workspace = ws
    try:
        return run_cli(ws.home, *args)
    finally:
        state.workspace = None


def test_every_report_kind_has_a_stored_report(world: dict[str, Any]) -> None:
    assert set(world["refs"]) == set(KINDS)
    listed = [r.ref for r in world["ws"].reports.list()]
    assert set(world["refs"].values()) == set(listed) and "model/cancer:1" not in listed  # only compiled versions


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_report_writes_a_self_contained_page(world: dict[str, Any], kind: str, tmp_path: Path) -> None:
    ws, ref = world["ws"], world["refs"][kind]
    page = ws.reports.html(ref)
    parsed = parse_html(page)
    assert page.lower().startswith("<!doctype html>") and parsed.tags.get("table", 0) + parsed.tags.get("svg", 0) > 0
    assert parsed.external == [] and "<script" not in page  # opens offline
    default = ws.reports.write(ref)
    name, version = ref.split("/", 1)[1].split(":")
    assert default == ws.home / "reports" / f"{kind}-{name}-{version}.html" and default.read_text() == page
    chosen = ws.reports.write(ref, tmp_path / "deep" / "r.html")
    assert chosen.read_text() == page and [p.name for p in chosen.parent.iterdir()] == ["r.html"]  # no temporary left


def test_report_errors_are_clear(world: dict[str, Any], tmp_path: Path) -> None:
    ws = world["ws"]
    with pytest.raises(NotFoundError, match="model/cancer:1 has no compile report"):
        ws.reports.html("model/cancer:1")
    with pytest.raises(ValidationError, match="'dataset' is not a report kind"):
        ws.reports.html("dataset/cancer")
    with pytest.raises(NotFoundError, match=r"evaluation 'cancer' has no version 7 \(latest is 1\)"):
        ws.reports.write("evaluation/cancer:7")
    with pytest.raises(ValidationError, match="is a folder; give a file name"):
        ws.reports.write(world["refs"]["evaluation"], tmp_path)
    assert not (ws.home / "reports" / "evaluation-cancer-7.html").exists()


def test_validation_and_compile_pages_say_what_happened(world: dict[str, Any]) -> None:
    ws = world["ws"]
    validation = ws.reports.html(world["refs"]["data-validation"])
    assert "failed</b>: 1 rule(s) passed, 1 failed" in validation and "RowCount &gt; 500" in validation
    compiled = ws.reports.html(world["refs"]["model"])
    assert "compiled from <code>model/cancer:1</code>" in compiled and "max abs deviation" in compiled


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (("data", "profile", "cancer:1"), "data-profile"),
        (("data", "validate", "dataset/cancer", "--rules", 'Rules = [ IsComplete "debt" ]'), "data-validation"),
        (("evaluate", "run", "model/cancer:1", "--data", "cancer"), "evaluation"),
        (("evaluate", "show", "cancer:1"), "evaluation"),
        (("clarify", "bias", "--data", "cancer", "--label", "approve", "--facet", "black=1", "--model", "cancer@latest"), "bias-report"),
        (("clarify", "explain", "model/cancer:1", "--data", "cancer", "--rows", "10", "--top-k", "0"), "explanation"),
        (("clarify", "show", "explanation/cancer"), "explanation"),
        (("evaluate", "card", "cancer:1", "--evaluation", "cancer"), "model-card"),
        (("models", "show", "cancer:2"), "model"),
        (("reports", "export", "bias-report/cancer:1"), "bias-report"),
    ],
)
def test_report_commands_take_html(world: dict[str, Any], tmp_path: Path, args: tuple[str, ...], kind: str) -> None:
    target = tmp_path / "out" / "report.html"
    out = _cli(world["ws"], *args, "--html", str(target))
    assert out.returncode == 0, out.stderr
    page = target.read_text()
    assert page.lower().startswith("<!doctype html>") and parse_html(page).external == []


def test_reports_ls_lists_where_each_report_is_exported(world: dict[str, Any]) -> None:
    ws = world["ws"]
    listed = json.loads(_cli(ws, "reports", "ls", "--json").stdout)
    assert {d["ref"] for d in listed} >= set(world["refs"].values())
    assert all(d["path"].startswith(str(ws.home / "reports")) for d in listed)
    out = _cli(ws, "reports", "export", world["refs"]["model-card"])
    assert out.returncode == 0 and Path(out.stdout.strip()).read_text().lower().startswith("<!doctype html>")
    bad = _cli(ws, "reports", "export", "job/x")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: 'job' is not a report kind (reports: " + ", ".join(KINDS) + ")"


def test_open_starts_the_browser_on_the_written_file(world: dict[str, Any], tmp_path: Path) -> None:
    """``--open`` goes through the ``webbrowser`` module: $BROWSER names a real program that records its argument."""
    seen = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {seen}\n')
    browser.chmod(browser.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "BROWSER": f"{browser} %s"}
    env.pop("FORGEML_HOME", None)
    ref = world["refs"]["explanation"]
    out = subprocess.run([sys.executable, "-m", "forgeml", "--home", str(world["ws"].home), "clarify", "show", ref, "--open", "--json"],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    name, version = ref.split("/", 1)[1].split(":")
    written = world["ws"].home / "reports" / f"explanation-{name}-{version}.html"
    assert f"report: {written}" in out.stderr
    assert seen.read_text().strip() == written.resolve().as_uri()


def test_rest_serves_every_report_as_html_and_writes_nothing(world: dict[str, Any]) -> None:
    ws = world["ws"]
    before = sorted(p.name for p in (ws.home / "reports").iterdir()) if (ws.home / "reports").exists() else []
    with TestClient(create_app(ws)) as client:
        listed = client.get("/reports").json()
        assert {d["ref"] for d in listed} >= set(world["refs"].values())
        for ref in world["refs"].values():
            page = client.get(f"/reports/{ref}")
            assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8", ref
            assert page.text == ws.reports.html(ref)
        missing = client.get("/reports/evaluation/nope")
        assert missing.status_code == 404 and missing.json() == {"error": "NotFoundError", "message": "evaluation 'nope' does not exist"}
        assert client.get("/reports/dataset/cancer").status_code == 400
        assert client.get("/datasets/cancer/profile.html").headers["content-type"].startswith("text/html")
        assert client.get("/datasets/cancer:1/validation.html").status_code == 200
        compiled = client.get("/model-package-groups/cancer/versions/2/compilation.html")
        assert compiled.status_code == 200 and "ONNX compilation model/cancer:2" in compiled.text
        assert client.get("/model-package-groups/cancer/versions/1/compilation.html").status_code == 404
    after = sorted(p.name for p in (ws.home / "reports").iterdir()) if (ws.home / "reports").exists() else []
    assert after == before


def test_profile_route_is_404_until_the_version_is_profiled(ws: Workspace) -> None:
    ws.datasets.create("fresh", loans_frame(30))
    with TestClient(create_app(ws)) as client:
        missing = client.get("/datasets/fresh/profile.html")
        assert missing.status_code == 404
        assert missing.json()["message"] == "dataset/fresh:1 has no profile report yet (run `forgeml data profile fresh:1`)"
        ws.prep.profile("fresh")
        page = client.get("/datasets/fresh/profile.html")
        assert page.status_code == 200 and "Profile of dataset/fresh:1" in page.text


def test_artifact_digests_shown_by_ls_are_accepted_by_get(ws: Workspace, tmp_path: Path) -> None:
    """`artifacts ls` shows 16-character digests; `artifacts get` takes them (and any unique prefix)."""
    first = ws.artifacts.put_bytes(b"first")
    ws.artifacts.put_bytes(b"second")
    listing = run_cli(ws.home, "artifacts", "ls").stdout
    assert first.digest[:16] in listing
    out = run_cli(ws.home, "artifacts", "get", first.digest[:16], str(tmp_path / "a.bin"))
    assert out.returncode == 0 and (tmp_path / "a.bin").read_bytes() == b"first"
    out = run_cli(ws.home, "artifacts", "get", f"artifact/{first.digest[:6]}", str(tmp_path / "b.bin"))
    assert out.returncode == 0 and (tmp_path / "b.bin").read_bytes() == b"first"
    missing = run_cli(ws.home, "artifacts", "get", "0000", str(tmp_path / "c.bin"))
    assert missing.returncode == 4 and missing.stderr == "error: no artifact digest starts with '0000'\n"


def test_clarify_show_of_an_explanation_prints_a_table_not_json(world: dict[str, Any]) -> None:
    out = _cli(world["ws"], "clarify", "show", "explanation/cancer")
    assert out.returncode == 0, out.stderr
    assert "global SHAP" in out.stdout and not out.stdout.lstrip().startswith("{")
    assert json.loads(_cli(world["ws"], "clarify", "show", "explanation/cancer", "--json").stdout)
