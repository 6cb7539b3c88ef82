"""``forgeml gate``: a candidate against the champion on a real dataset, checks judged against sklearn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import roc_auc_score

from forgeml.errors import NotFoundError, ValidationError
from forgeml.evaluation._gate import judge, parse_check
from tests.cli_runner import run_cli
from tests.evaluation.helpers import FEATURES, loans_frame, save_binary
from tests.registry.conftest import _one_thread  # noqa: F401  (autouse: OpenMP pinned to 1 thread)


@pytest.fixture
def models(ws: Any, tmp_path: Path) -> dict[str, Any]:
    train = loans_frame(400, seed=0)
    good = save_binary(tmp_path / "good", train)
    noisy = train.assign(approve=train.approve.sample(frac=1.0, random_state=1).to_numpy())  # labels shuffled: a bad model
    bad = save_binary(tmp_path / "bad", noisy)
    ws.registry.register("loans", good)
    ws.registry.register("loans", bad)
    ws.registry.set_alias("loans", "champion", 1)
    holdout = loans_frame(300, seed=5)
    ws.datasets.create("holdout", holdout)
    from xgboost import XGBClassifier

    aucs = {}  # the reference: the same estimators fitted again, scored by scikit-learn
    for v, fit_on in ((1, train), (2, noisy)):
        est = XGBClassifier(n_estimators=25, max_depth=3, random_state=0, n_jobs=1).fit(fit_on[FEATURES], fit_on["approve"])
        aucs[v] = roc_auc_score(holdout.approve, est.predict_proba(holdout[FEATURES])[:, 1])
    return {"aucs": aucs}


def test_gate_fails_a_worse_candidate_and_passes_a_better_one(ws: Any, models: dict[str, Any]) -> None:
    aucs = models["aucs"]
    out = ws.evaluation.gate("loans:2", "champion", "holdout", ["auc>=0.5", "auc+=0"])
    assert out["verdict"] == "FAIL" and not out["passed"]
    assert out["candidate"]["metrics"]["auc"] == pytest.approx(aucs[2]) and out["champion"]["metrics"]["auc"] == pytest.approx(aucs[1])
    change = out["checks"][1]["change"]
    assert change == pytest.approx(aucs[2] - aucs[1]) and "improved by" in out["checks"][1]["reason"]
    assert out["summary"].startswith("FAIL: model/loans:2 vs model/loans:1 on dataset/holdout:1: ")
    # the champion against the bad version: passes a minimum absolute and relative improvement
    back = ws.evaluation.gate("loans:1", "2", "holdout", ["auc+=0.1", "auc+=10%", "log_loss<=5"])
    assert back["passed"], back["summary"]
    assert back["checks"][1]["relative_change"] == pytest.approx((aucs[1] - aucs[2]) / aucs[2])
    assert back["summary"] == "PASS: model/loans:1 vs model/loans:2 on dataset/holdout:1: 3/3 checks passed"


def test_no_champion(ws: Any, models: dict[str, Any]) -> None:
    with pytest.raises(NotFoundError):
        ws.evaluation.gate("loans:1", "prod", "holdout", ["auc+=0"])
    out = ws.evaluation.gate("loans:1", "prod", "holdout", ["auc+=0", "auc>=0.6"], allow_no_champion=True)
    assert out["passed"] and out["champion"] is None and out["checks"][0]["skipped"]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("auc>=0.8", {"metric": "auc", "min_value": 0.8}),
        ("log_loss<=0.4", {"metric": "log_loss", "max_value": 0.4}),
        ("auc+=0.01", {"metric": "auc", "min_delta": 0.01}),
        ("auc+=-0.005", {"metric": "auc", "min_delta": -0.005}),
        ("auc += 2%", {"metric": "auc", "min_relative_delta": 0.02}),
        ({"metric": "f1", "min_relative_delta": 0.01}, {"metric": "f1", "min_relative_delta": 0.01}),
    ],
)
def test_checks_parse(text: Any, parsed: dict[str, Any]) -> None:
    assert parse_check(text) == parsed


@pytest.mark.parametrize("bad", ["auc>0.8", "auc>=x", "auc>=5%", {"metric": "auc"}, {"metric": "auc", "min_value": 1, "max_value": 2}])
def test_bad_checks(bad: Any) -> None:
    with pytest.raises(ValidationError, match="check"):
        parse_check(bad)


def test_lower_is_better_and_hand_computed_changes() -> None:
    # log_loss 0.30 vs champion 0.40: improved by 0.10 (25 %)
    out = judge({"metric": "log_loss", "min_relative_delta": 0.2}, {"log_loss": 0.30}, {"log_loss": 0.40})
    assert out["passed"] and out["change"] == pytest.approx(0.10) and out["relative_change"] == pytest.approx(0.25)
    assert not judge({"metric": "log_loss", "min_delta": 0.2}, {"log_loss": 0.30}, {"log_loss": 0.40})["passed"]
    assert "has no metric" in judge({"metric": "nope", "min_value": 0}, {"auc": 1.0}, None)["reason"]


def test_cli_exit_codes_one_line_verdict_and_report(ws: Any, models: dict[str, Any], tmp_path: Path) -> None:
    ws.close()
    res = run_cli(ws.home, "gate", "loans:2", "--data", "holdout", "--check", "auc+=0", "--report", str(tmp_path / "r.json"))
    assert res.returncode == 1 and res.stdout.strip().splitlines()[-1].startswith("FAIL: model/loans:2 vs model/loans:1")
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "FAIL"
    res = run_cli(ws.home, "gate", "loans:1", "--champion", "2", "--data", "holdout", "--check", "auc>=0.6", "--check", "auc+=1%", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["verdict"] == "PASS"
    res = run_cli(ws.home, "gate", "loans:1", "--data", "holdout", "--check", "auc>0.6")
    assert res.returncode != 0 and "check 'auc>0.6'" in res.stderr and "Traceback" not in res.stderr


def test_the_ci_examples_run_a_pipeline_and_the_gate(ws: Any, models: dict[str, Any], tmp_path: Path) -> None:
    import shlex

    import yaml

    root = Path(__file__).resolve().parents[2] / "examples" / "ci"
    github = yaml.safe_load((root / "github-actions.yml").read_text())
    gitlab = yaml.safe_load((root / "gitlab-ci.yml").read_text())
    steps = " ".join(s.get("run", "") for s in github["jobs"]["train-and-gate"]["steps"])
    scripts = " ".join(" ".join(gitlab[job]["script"]) for job in ("train", "gate"))
    for text in (steps, scripts):
        assert 'forgeml pipelines run "$PIPELINE" --wait' in text and 'forgeml gate "$CANDIDATE" --champion champion' in text
    assert github.get("on", github.get(True)) == {"pull_request": {"branches": ["main"]}}
    assert gitlab["gate"]["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'
    # the candidate as the examples pick it, and their gate command, against this workspace
    ws.close()
    newest = json.loads(run_cli(ws.home, "models", "versions", "loans", "--json").stdout)[0]["ref"]
    assert newest == "model/loans:2"
    gate = gitlab["gate"]["script"][1].replace('"$CANDIDATE"', newest).replace('"$HOLDOUT"', "holdout")
    gate = gate.replace("--report gate.json", f"--report {tmp_path / 'gate.json'}")
    res = run_cli(ws.home, *shlex.split(gate)[1:])
    assert res.returncode == 1 and res.stdout.strip().splitlines()[-1].startswith("FAIL: model/loans:2 vs model/loans:1")
    assert json.loads((tmp_path / "gate.json").read_text())["verdict"] == "FAIL"
