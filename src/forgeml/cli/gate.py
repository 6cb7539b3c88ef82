"""``forgeml gate``: pass or fail a candidate model version against the champion (CI/CD)."""

from __future__ import annotations

from pathlib import Path

import typer

from forgeml.cli._common import JsonOption, print_json, print_table, workspace
from forgeml.cli._refs import ref_argument, ref_option


def gate(
    candidate: str = ref_argument("MODEL", help="The candidate model version."),
    champion: str = typer.Option("champion", "--champion", help="The champion: an alias or version of the candidate's group, or a full model reference."),
    data: str = ref_option("DATA", "--data", help="The evaluation dataset (labelled)."),
    check: list[str] = typer.Option([], "--check", help="METRIC>=X, METRIC<=X, METRIC+=X (minimum change vs the champion) or METRIC+=X% (relative); repeatable."),
    target: str = typer.Option(None, help="Label column (default: the package's target)."),
    allow_no_champion: bool = typer.Option(False, "--allow-no-champion", help="No champion yet: judge only absolute bounds."),
    report: Path = typer.Option(None, "--report", help="Also write the JSON report to this file."),
    as_json: bool = JsonOption,
) -> None:
    """Exit 0 when every check passes, 1 when one fails; one line says why."""
    import json

    from forgeml.errors import ValidationError

    if data is None:
        raise ValidationError("gate: --data DATASET is required (the evaluation dataset)")
    result = workspace().evaluation.gate(candidate, champion, data, list(check), target=target, allow_no_champion=allow_no_champion)
    if report is not None:
        report.write_text(json.dumps(result, indent=2, default=str) + "\n")
    if as_json:
        print_json(result)
    else:
        print_table(None, ["metric", "check", "candidate", "champion", "change", "result"], (
            (c["metric"], _check(c), _num(c.get("candidate")), _num(c.get("champion")), _num(c.get("change")),
             "pass" if c["passed"] else c["reason"]) for c in result["checks"]))  # fmt: skip
        typer.echo(result["summary"])
    raise typer.Exit(0 if result["passed"] else 1)


def _num(value: object) -> str:
    return "" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def _check(c: dict[str, object]) -> str:
    for key, text in (("min_value", ">= {}"), ("max_value", "<= {}"), ("min_delta", "change >= {}")):
        if key in c:
            return text.format(c[key])
    return f"relative change >= {float(c['min_relative_delta']):.2%}"  # type: ignore[arg-type]
