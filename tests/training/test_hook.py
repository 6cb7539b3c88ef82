"""The opt-in tensor hook: a torch script's gradients and losses reach the Debugger rules with no
metric definitions; vanishing gradients and a NaN loss are found, a healthy run passes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from forgeml.core.workspace import Workspace
from forgeml.training.hook import PREFIX, DebugHook, parse_line

SCRIPT = Path(__file__).parent / "scripts" / "torch_hooked.py"
RULES = ["VanishingGradient", "ExplodingTensor", "Overfit"]


def test_hook_line_round_trips_and_flags_non_finite_tensors() -> None:
    model = torch.nn.Linear(3, 1)
    loss = model(torch.ones(4, 3)).sum()
    loss.backward()
    out = io.StringIO()
    values = DebugHook(model, weights=True, stream=out).record(loss=loss)
    assert out.getvalue().startswith(PREFIX)
    parsed = parse_line(out.getvalue())
    assert parsed is not None and set(parsed) == {"gradients/weight", "gradients/bias", "weights/weight", "weights/bias", "train:loss"}
    assert parsed["gradients/weight"] == pytest.approx(float(model.weight.grad.abs().mean()), rel=1e-5)
    assert parsed["train:loss"] == pytest.approx(values["train:loss"], rel=1e-5)
    model.weight.grad[0, 0] = float("nan")
    assert str(DebugHook(model).values()["gradients/weight"]) == "nan"
    assert parse_line("epoch 1 loss=0.3") is None


def test_rules_read_the_hooks_series(ws: Workspace, datasets: dict[str, str]) -> None:
    cases = {"healthy": {}, "vanish": {"scale": 1e-12}, "nan": {"nan-at": 1}}
    for name, hp in cases.items():
        ws.training.create(f"hook-{name}", script=str(SCRIPT), channels=datasets, hyperparameters={"epochs": 4, **hp}, rules=RULES)
    status = {}
    for name in cases:
        job = ws.training.wait(f"hook-{name}", timeout=120, raise_on_failure=False)
        assert job.status == "Completed", job.failure_reason
        info = ws.training.describe(f"hook-{name}")
        status[name] = {r["RuleConfigurationName"]: r["RuleEvaluationStatus"] for r in info["DebugRuleEvaluationStatuses"]}
    keys = {m.key for m in ws.training.metrics("hook-healthy")}
    assert {"gradients/0.weight", "gradients/2.weight", "train:loss", "validation:loss"} <= keys
    assert [m.step for m in ws.training.metrics("hook-healthy", "train:loss")] == [0, 1, 2, 3]
    assert status["healthy"] == dict.fromkeys(RULES, "NoIssuesFound")
    assert status["vanish"]["VanishingGradient"] == "IssuesFound"
    assert status["vanish"]["ExplodingTensor"] == "NoIssuesFound"
    assert status["nan"]["ExplodingTensor"] == "IssuesFound"
    assert status["nan"]["VanishingGradient"] == "NoIssuesFound"
