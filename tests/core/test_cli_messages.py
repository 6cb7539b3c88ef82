"""CLI errors name the command's options, not the service's Python parameters; tune shares train's input options."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forgeml.cli import build_app
from forgeml.cli._messages import cli_message, resolve_command
from forgeml.core.workspace import Workspace
from tests.cli_runner import run_cli as forgeml


def _command(*args: str):  # type: ignore[no-untyped-def]
    import typer

    return resolve_command(typer.main.get_command(build_app()), list(args))


@pytest.mark.parametrize(
    ("args", "message", "expected"),
    [
        (("models", "register", "g"), "give exactly one of package (a folder), training_job or artifact",
         "give exactly one of PACKAGE (a folder), --training-job or --artifact"),
        (("train", "create"), "give exactly one of algorithm= (a built-in) or script= (script mode)",
         "give exactly one of --algorithm (a built-in) or --script (script mode)"),
        (("--home", "x", "train", "create", "-c", "a=b"), "xgboost is supervised: give target= (the label column)",
         "xgboost is supervised: give --target (the label column)"),
        (("tune", "create"), "pass features= to leave them out, or a recipe= that encodes them",
         "pass --feature to leave them out, or a --recipe that encodes them"),
        (("data", "ingest", "f.csv"), "mode upsert needs key= (the column(s) that identify a row)",
         "mode upsert needs --key (the column(s) that identify a row)"),
        # ordinary words and names the command does not have stay as they are
        (("models", "register", "g"), "the package folder has no manifest; training_job x is Failed",
         "the package folder has no manifest; --training-job x is Failed"),
        (("train", "ls"), "give target= (the label column)", "give target= (the label column)"),
        (("no-such-group",), "give target=", "give target="),
    ],
)
def test_cli_message_uses_the_commands_options(args: tuple[str, ...], message: str, expected: str) -> None:
    assert cli_message(message, _command(*args)) == expected


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x1": rng.normal(size=60), "x2": rng.normal(size=60), "city": rng.choice(["a", "b"], 60)})
    frame["y"] = (frame.x1 + frame.x2 > 0).astype(int)
    return frame


def test_train_and_tune_errors_name_options_and_tune_takes_feature(ws: Workspace) -> None:
    ws.datasets.create("mixed", _frame())
    ws.close()
    out = forgeml(ws.home, "train", "create", "-c", "train=dataset/mixed", "--algorithm", "xgboost")
    assert out.returncode != 0 and "give --target (the label column)" in out.stderr, out.stderr
    base = ["tune", "create", "--name", "t1", "--strategy", "Random", "--objective", "train:logloss", "--objective-type", "Minimize",
            "--range", "eta=Continuous:0.1:0.3", "--algorithm", "xgboost", "--channel", "train=dataset/mixed", "--target", "y",
            "--max-jobs", "1"]  # fmt: skip
    out = forgeml(ws.home, *base)
    assert out.returncode != 0, out.stdout
    assert "non-numeric input column(s) city in channel 'train': pass --feature to leave them out, or a --recipe that encodes them" in out.stderr
    out = forgeml(ws.home, *base, "--feature", "x1", "--feature", "nope")  # the option reaches the training spec
    assert out.returncode != 0 and "channel 'train' has no column(s) 'nope'" in out.stderr, out.stderr


def test_tune_create_recipe_goes_into_the_training_spec(ws: Workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ws.datasets.create("mixed", _frame())
    ws.close()
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("steps:\n  - {type: nope}\n")
    out = forgeml(ws.home, "tune", "create", "--name", "t2", "--objective", "train:logloss", "--objective-type", "Minimize",
                  "--range", "eta=Continuous:0.1:0.3", "--algorithm", "xgboost", "--channel", "train=dataset/mixed",
                  "--target", "y", "--max-jobs", "1", "--recipe", str(recipe))  # fmt: skip
    assert out.returncode != 0 and "recipe step 1: unknown step type 'nope'" in out.stderr, out.stderr
    missing = forgeml(ws.home, "tune", "create", "--recipe", str(tmp_path / "none.yaml"))
    assert missing.returncode != 0 and "recipe file" in missing.stderr and "does not exist" in missing.stderr
    assert json.loads(forgeml(ws.home, "tune", "ls", "--json").stdout) == []
