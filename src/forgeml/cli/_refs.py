"""CLI plumbing for references and reports.

Every argument or option that names a resource is declared with :func:`ref_argument` or
:func:`ref_option`: its metavar (``DATASET``, ``MODEL`` ...) says which kind it takes, its help says
which forms (the same everywhere, see :mod:`forgeml.core.refs`), and the services resolve it. A test
walks the whole Typer app and checks each such parameter against every form.

Report commands take ``--html PATH`` and ``--open`` (:data:`HtmlOption`, :data:`OpenOption`) and
call :func:`export_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from forgeml.core.records import ResourceRecord

# metavar -> (kind it takes, or a pseudo-kind: "data" = dataset or file, "package" = model or folder,
#             "ref" = any KIND/NAME reference, "report" = any report reference), help text
METAVARS: dict[str, tuple[str, str]] = {
    "DATASET": ("dataset", "Dataset: NAME (latest), NAME:VERSION, NAME@latest or dataset/NAME:VERSION."),
    "DATA": ("data", "Dataset (NAME, NAME:VERSION, dataset/NAME:VERSION) or a .csv/.parquet file (./rows.csv)."),
    "MODEL": ("model", "Model: NAME (latest), NAME:VERSION, NAME@ALIAS (champion, approved, latest) or model/NAME:VERSION."),
    "PACKAGE": ("package", "Model (NAME, NAME:VERSION, NAME@champion, model/NAME:VERSION) or a package folder (./pkg)."),
    "ENDPOINT": ("endpoint", "Endpoint: NAME, NAME:VERSION or endpoint/NAME."),
    "JOB": ("job", "Job: NAME or job/NAME."),
    "ARTIFACT": ("artifact", "Artifact: its sha256, a unique prefix of 4+ hex characters, or artifact/PREFIX."),
    "EVALUATION": ("evaluation", "Evaluation: NAME, NAME:VERSION or evaluation/NAME:VERSION."),
    "BIAS_REPORT": ("bias-report", "Bias report: NAME, NAME:VERSION or bias-report/NAME:VERSION."),
    "EXPLANATION": ("explanation", "Explanation: NAME, NAME:VERSION or explanation/NAME:VERSION."),
    "FEATURE_GROUP": ("feature-group", "Feature group: NAME, NAME:VERSION or feature-group/NAME."),
    "EXPERIMENT": ("experiment", "Experiment: NAME or experiment/NAME."),
    "RUN": ("run", "Run: EXPERIMENT/RUN, run/EXPERIMENT/RUN or its id."),
    "CLARIFY": ("clarify", "Bias report or explanation: bias-report/NAME[:VERSION], explanation/NAME[:VERSION], or NAME[:VERSION] with --kind."),
    "BASELINE": ("monitoring-baseline", "Monitoring baseline: NAME, NAME:VERSION or monitoring-baseline/NAME:VERSION."),
    "EXECUTION": ("monitoring-execution", "Monitoring execution: NAME, NAME:VERSION or monitoring-execution/NAME:VERSION."),
    "SCHEDULE": ("monitoring-schedule", "Monitoring schedule: NAME or monitoring-schedule/NAME."),
    "REPORT": ("report", "Report: KIND/NAME[:VERSION], e.g. evaluation/loans:2, data-profile/loans, model/loans:3."),
    "REF": ("ref", "KIND/NAME[:VERSION|@ALIAS], e.g. model/loans:1, dataset/loans, job/NAME, artifact/PREFIX."),
}


def _spec(metavar: str, help: str | None) -> tuple[str, str]:
    kind_help = METAVARS[metavar][1]
    return metavar, f"{help} {kind_help}" if help else kind_help


def ref_argument(metavar: str, default: Any = ..., *, help: str | None = None) -> Any:
    """A positional argument that takes a reference of the kind ``metavar`` names."""
    name, text = _spec(metavar, help)
    return typer.Argument(default, metavar=name, help=text, show_default=False)


def ref_option(metavar: str, *flags: str, default: Any = None, help: str | None = None) -> Any:
    """An option that takes a reference of the kind ``metavar`` names."""
    name, text = _spec(metavar, help)
    return typer.Option(default, *flags, metavar=name, help=text, show_default=False)


HtmlOption: Any = typer.Option(None, "--html", help="Write the report's self-contained HTML page to this file.")
OpenOption: Any = typer.Option(
    False, "--open", help="Open the HTML page in a browser (written under <home>/reports/ unless --html says where)."
)


def export_report(record: ResourceRecord | str, html: Path | None, open_: bool, *, kind: str | None = None) -> Path | None:
    """Write a report's page when ``--html`` or ``--open`` asks for it (say where on stderr when
    the path was not given).

    Returns:
        The file written, or None when neither option was given.
    """
    if html is None and not open_:
        return None
    from forgeml.cli._common import workspace

    path = workspace().reports.write(record, html, kind=kind)
    if html is None:
        typer.echo(f"report: {path}", err=True)
    if open_:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            typer.echo(f"no browser could be started; open {path} yourself", err=True)
    return path


__all__ = ["METAVARS", "HtmlOption", "OpenOption", "export_report", "ref_argument", "ref_option"]
