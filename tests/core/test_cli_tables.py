"""CLI output a user reads at 80 columns: tables that fit, no reprs, --version, events, workspace discovery, errors.

Every test runs the real ``forgeml`` entry point in-process (``tests/cli_runner.py``) with
``COLUMNS=80``, the width of a default terminal.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer

from forgeml.core.workspace import Workspace
from tests.cli_runner import run_cli

BORDERS = "│┃"


@pytest.fixture(autouse=True)
def _eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")


def _cells(line: str) -> list[str]:
    """The cells of one rendered table row (between its vertical borders)."""
    return re.split(f"[{BORDERS}]", line.strip())[1:-1]


def _table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()[:1] in BORDERS]


def _wide_dataset(ws: Workspace) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"feature_{i:02d}": rng.normal(size=12).round(4) for i in range(60)})
    frame.insert(0, "application_id", [f"APP-2026-{i:06d}" for i in range(12)])
    ws.datasets.create("wide", frame)


def test_data_head_of_61_columns_fits_80_columns_and_says_how_to_see_the_rest(ws: Workspace) -> None:
    _wide_dataset(ws)
    out = run_cli(ws.home, "data", "head", "wide", "-n", "3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = _table_lines(out.stdout)
    header = [c.strip() for c in _cells(rows[0])]
    assert header[0] == "application_id" and 2 <= len(header) < 61 and all(header)  # every shown header whole
    assert all(re.fullmatch(r"feature_\d\d", h) for h in header[1:])
    for row in rows[1:]:
        assert all(len(c) >= 3 for c in _cells(row))  # no zero-width cell: at least " x "
    assert "APP-2026-000000" in out.stdout and "APP-2026-000002" in out.stdout  # identifiers whole, copyable
    footer = out.stderr.splitlines()[-1]
    assert f"{len(header)} of 61 columns shown" in footer and "--wide" in footer and "--columns" in footer and "--json" in footer
    assert f"workspace {ws.home}" in out.stderr

    wide = run_cli(ws.home, "data", "head", "wide", "-n", "3", "--wide")
    assert wide.returncode == 0 and all(f"feature_{i:02d}" in wide.stdout for i in range(60))
    assert "columns shown" not in wide.stderr

    picked = run_cli(ws.home, "data", "head", "wide", "-n", "2", "--columns", "application_id,feature_59")
    assert picked.returncode == 0
    assert [c.strip() for c in _cells(_table_lines(picked.stdout)[0])] == ["application_id", "feature_59"]

    bad = run_cli(ws.home, "data", "head", "wide", "--columns", "nope")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --columns: no column 'nope'") and len(bad.stderr.splitlines()) == 1


def test_experiment_runs_with_15_columns_keep_run_names_whole(ws: Workspace) -> None:
    svc = ws.experiments
    svc.create_experiment("loan-default-xgboost")
    names = [f"trial-{i:03d}-max-depth-search" for i in range(3)]
    for i, name in enumerate(names):
        with svc.start_run("loan-default-xgboost", run_name=name) as run:
            run.log_params({f"param_{k}": 0.1 * k + i for k in range(6)})
            run.log_metrics({f"validation:metric_{k}": 0.5 + 0.01 * (i + k) for k in range(6)})
    out = run_cli(ws.home, "experiments", "runs", "loan-default-xgboost")
    assert out.returncode == 0, out.stderr
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    for name in names:  # one line each, not wrapped mid-name
        assert f"loan-default-xgboost/{name}" in out.stdout
    header = [c.strip() for c in _cells(_table_lines(out.stdout)[0])]
    assert header[:2] == ["run", "status"] and all(header)
    assert all(len(c.strip()) > 2 for c in _cells(_table_lines(out.stdout)[2]))  # not squeezed to 2 characters
    assert f"of {2 + 6 + 6 + 1} columns shown" in out.stderr
    wide = run_cli(ws.home, "experiments", "runs", "loan-default-xgboost", "--wide")
    assert wide.returncode == 0 and "param param_5" in wide.stdout and "created" in wide.stdout


def test_cells_never_show_python_reprs(ws: Workspace) -> None:
    from forgeml.cli._table import cell_text

    assert cell_text({"champion": 1, "latest": 2}) == "champion=1, latest=2"
    assert cell_text(["a", "b"]) == "a, b" and cell_text({"a": {"b": [1, 2]}}) == "a={b=[1, 2]}" and cell_text(None) == ""
    ws.datasets.create("loans", pd.DataFrame({"x": [1, 2]}))
    out = run_cli(ws.home, "events")
    assert out.returncode == 0 and "status=Available" in out.stdout
    assert "{'" not in out.stdout and "': " not in out.stdout


def test_cells_are_text_not_markup(ws: Workspace) -> None:
    ws.datasets.create("notes", pd.DataFrame({"id": ["[bold]n-1[/bold]"], "[tag]": ["[draft] [x, y]"]}))
    out = run_cli(ws.home, "data", "head", "notes")
    assert out.returncode == 0 and "[bold]n-1[/bold]" in out.stdout and "[draft] [x, y]" in out.stdout and "[tag]" in out.stdout


def test_layout_never_narrows_identifiers() -> None:
    from forgeml.cli._table import TableOptions, layout

    columns = ["name", "description"]
    cells = [["a-training-job-name-that-is-long-2026-12-07", "words " * 40]]
    chosen, widths, ids = layout(columns, cells, 80, TableOptions())
    assert chosen == [0, 1] and widths[0] == len(cells[0][0]) and ids == [True, False] and sum(w + 3 for w in widths) + 1 <= 80
    # an identifier wider than the terminal is shown whole (the line is longer); nothing else fits beside it
    chosen, widths, _ = layout(["ref"], [["x" * 120]], 80, TableOptions())
    assert widths == [120]
    # a digest in a value column is one word: never cut, and a key/value table keeps both columns
    digest = "artifact/" + "d0" * 32
    chosen, widths, _ = layout(["field", "value"], [["upstream (stored-as)", digest], ["rows", "20"]], 80, TableOptions())
    assert chosen == [0, 1] and widths[1] == len(digest)
    # free text shares the spare width instead of one column taking it all
    chosen, widths, _ = layout(["name", "allowed", "meaning"], [["eta", "a float in " * 4, "step size " * 8]], 80, TableOptions())
    assert chosen == [0, 1, 2] and abs(widths[1] - widths[2]) <= 1 and sum(w + 3 for w in widths) + 1 == 80


def test_version() -> None:
    from forgeml import __version__

    out = run_cli(Path("/nonexistent-forgeml-home"), "--version")
    assert out.returncode == 0 and out.stdout == f"forgeml {__version__}\n"


def test_events_limit_shows_the_newest(ws: Workspace) -> None:
    for i in range(8):
        ws.datasets.create(f"d{i}", pd.DataFrame({"x": [i]}))
    every = [e.id for e in ws.metadata.list_events()]
    assert len(every) > 5
    shown = json.loads(run_cli(ws.home, "events", "--limit", "5", "--json").stdout)
    assert [e["id"] for e in shown] == every[-5:]  # the newest five, newest last
    table = run_cli(ws.home, "events", "--limit", "2")
    assert "newest last" in table.stdout and "dataset/d7:1" in table.stdout and "dataset/d0:1" not in table.stdout
    paged = json.loads(run_cli(ws.home, "events", "--after", str(every[0]), "--limit", "2", "--json").stdout)
    assert [e["id"] for e in paged] == every[1:3]  # --after pages forward from there
    assert json.loads(run_cli(ws.home, "events", "--since", "1h", "--json").stdout) != []
    assert json.loads(run_cli(ws.home, "events", "--since", "2100-01-01", "--json").stdout) == []
    bad = run_cli(ws.home, "events", "--since", "yesterday")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --since: 'yesterday' is neither")


@pytest.mark.parametrize("args", [("data", "ls"), ("models", "ls"), ("events",), ("experiments", "ls"), ("jobs", "show", "x")])
def test_read_commands_do_not_create_a_workspace(tmp_path: Path, args: tuple[str, ...]) -> None:
    home = tmp_path / "empty" / ".forgeml"
    out = run_cli(home, *args)
    assert out.returncode == 4 and out.stderr.startswith(f"error: no workspace at {home}") and len(out.stderr.splitlines()) == 1
    assert not home.exists() and not home.parent.exists()


def test_train_model_prints_a_summary_and_json_only_when_asked(ws: Workspace) -> None:
    rng = np.random.default_rng(0)
    ws.datasets.create("pts", pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"]))
    ws.training.create("km-summary", algorithm="kmeans", channels={"train": "dataset/pts"}, hyperparameters={"k": 2}, wait=True)
    out = run_cli(ws.home, "train", "model", "km-summary")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("model of training job km-summary\n") and "{" not in out.stdout
    data = json.loads(run_cli(ws.home, "train", "model", "km-summary", "--json").stdout)
    assert data["model_dir"] in out.stdout and data["artifact"] in out.stdout


def test_eof_error_is_one_typed_line_not_aborted(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Click turns EOFError into a bare "Aborted." (exit 1); the CLI reports what happened instead."""
    import forgeml.cli as cli

    cut = tmp_path / "cut.gz"
    whole = gzip.compress(b"x" * 100_000)
    cut.write_bytes(whole[: len(whole) // 2])
    probe = typer.Typer()

    @probe.command("read")
    def read() -> None:
        gzip.decompress(cut.read_bytes())  # raises EOFError: the stream ends before its end marker

    module = types.ModuleType("forgeml_eof_probe")
    module.app = probe  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "forgeml_eof_probe", module)
    monkeypatch.setattr(cli, "GROUPS", [*cli.GROUPS, ("probe", "forgeml_eof_probe")])
    out = run_cli(ws.home, "probe", "read")
    assert out.returncode == 1 and "Aborted" not in out.stderr
    assert out.stderr.splitlines() == ["error: EOFError: Compressed file ended before the end-of-stream marker was reached (run with --debug for the traceback)"]


def test_read_commands_name_real_commands() -> None:
    import typer.main

    from forgeml.cli import READ_COMMANDS, build_app

    paths: set[str] = set()

    def walk(command: object, path: str) -> None:
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, f"{path} {name}".strip())
        else:
            paths.add(path)

    walk(typer.main.get_command(build_app()), "")
    assert not READ_COMMANDS - paths, sorted(READ_COMMANDS - paths)
