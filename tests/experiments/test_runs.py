"""Runs made by hand from the SDK: params, metric series, tags, artifacts, status."""

from __future__ import annotations

from pathlib import Path

import pytest

import forgeml as fm
from forgeml.core.workspace import Workspace
from forgeml.errors import AlreadyExistsError, NotFoundError, ValidationError


def test_start_run_records_params_series_tags_and_completes(ws: Workspace) -> None:
    with fm.start_run(experiment="loans", run_name="baseline", workspace=ws) as run:
        run.log_param("max_depth", 3)
        run.log_params({"eta": 0.1, "booster": "gbtree"})
        for step, value in enumerate([0.70, 0.78, 0.75]):
            run.log_metric("validation:auc", value, step=step)
        run.set_tag("team", "risk")
        assert run.record.status == "InProgress"
    record = ws.experiments.get_run("loans/baseline")
    assert record.status == "Completed" and record.ended_at is not None
    assert record.params == {"booster": "gbtree", "eta": "0.1", "max_depth": "3"}
    assert record.metrics == {"validation:auc": 0.75}  # the point with the highest step
    assert record.tags == {"team": "risk"}
    series = ws.experiments.metric_history("loans/baseline", "validation:auc")
    assert [(m.step, m.value) for m in series] == [(0, 0.70), (1, 0.78), (2, 0.75)]
    assert ws.experiments.get_experiment("loans").run_count == 1


def test_latest_metric_keeps_highest_step_even_when_logged_out_of_order(ws: Workspace) -> None:
    with ws.experiments.start_run("exp", "r") as run:
        run.log_metric("loss", 0.5, step=5)
        run.log_metric("loss", 0.9, step=2)
    assert ws.experiments.get_run("exp/r").metrics == {"loss": 0.5}


def test_exception_marks_run_failed(ws: Workspace) -> None:
    with pytest.raises(ZeroDivisionError), ws.experiments.start_run("exp", "broken") as run:
        run.log_metric("loss", 1.0)
        _ = 1 / 0
    assert ws.experiments.get_run("exp/broken").status == "Failed"


def test_logging_outside_the_context_raises_runtime_error(ws: Workspace) -> None:
    run = ws.experiments.start_run("exp", "outside")
    with pytest.raises(RuntimeError, match="only inside"):
        run.log_metric("loss", 1.0)
    with run:
        run.log_metric("loss", 1.0)
    with pytest.raises(RuntimeError):
        run.set_tag("late", "yes")
    assert ws.experiments.get_run("exp/outside").tags == {}


def test_start_run_with_existing_name_resumes_it(ws: Workspace) -> None:
    with ws.experiments.start_run("exp", "again") as run:
        run.log_param("a", 1)
    with ws.experiments.start_run("exp", "again") as run:
        assert run.record.status == "InProgress"
        run.log_param("b", 2)
    record = ws.experiments.get_run("exp/again")
    assert record.params == {"a": "1", "b": "2"} and record.status == "Completed"
    assert len(ws.experiments.list_runs("exp")) == 1


def test_log_artifact_stores_bytes_and_lineage(ws: Workspace, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("auc 0.8\n")
    with ws.experiments.start_run("exp", "art") as run:
        entry = run.log_artifact(report)
    assert ws.artifacts.read_bytes(entry["digest"]) == b"auc 0.8\n"
    record = ws.experiments.get_run("exp/art")
    assert record.artifacts["report.txt"]["digest"] == entry["digest"]
    assert [e.dst for e in ws.metadata.list_edges(src=record.ref)] == [f"artifact/{entry['digest']}"]
    with ws.experiments.start_run("exp", "missing") as run, pytest.raises(ValidationError, match="does not exist"):
        run.log_artifact(tmp_path / "nope.txt")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.create_run("bad name!", "r"), "invalid experiment name"),
        (lambda s: s.create_run("exp", "r", status="Running"), "unknown run status"),
        (lambda s: s.create_run("exp", "r", kind="notebook"), "unknown run kind"),
        (lambda s: s.get_run("no-slash"), "EXPERIMENT/RUN"),
        (lambda s: s.log_metrics(s.create_run("exp", "m"), {"loss": "high"}), "not a number"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_error(ws: Workspace, call, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call(ws.experiments)


def test_missing_and_duplicate_runs(ws: Workspace) -> None:
    ws.experiments.create_run("exp", "one")
    with pytest.raises(AlreadyExistsError):
        ws.experiments.create_run("exp", "one")
    with pytest.raises(NotFoundError):
        ws.experiments.get_run("exp/two")
    with pytest.raises(NotFoundError):
        ws.experiments.list_runs("nothing-here")


def test_delete_experiment_removes_its_runs(ws: Workspace) -> None:
    ws.experiments.import_runs("gone", [{"name": f"r{i}", "params": {"i": i}, "metrics": {"m": i}} for i in range(3)])
    ws.experiments.import_runs("kept", [{"name": "r0", "metrics": {"m": 1}}])
    assert ws.experiments.delete_experiment("gone") == 3
    assert [r.key for r in ws.experiments.search_runs("metrics.m >= 0")] == ["kept/r0"]
    with pytest.raises(NotFoundError):
        ws.experiments.get_experiment("gone")
