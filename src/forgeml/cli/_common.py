"""Shared CLI plumbing: the workspace, output as tables or JSON, and progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import typer

from forgeml.cli._table import TableOptions

if TYPE_CHECKING:
    from rich.console import Console

    from forgeml.core.workspace import Workspace


class _State:
    home: str | None = None
    debug: bool = False
    workspace: Workspace | None = None
    read_only: bool = False  # the command only reads: a missing workspace is an error, not created
    tables: TableOptions = TableOptions()
    announced: bool = False  # "workspace PATH" already said on stderr

    def reset(self) -> None:
        """Forget everything one invocation set (the CLI may run several times in one process)."""
        self.home, self.debug, self.workspace, self.read_only = None, False, None, False
        self.tables, self.announced = TableOptions(), False


state = _State()

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def workspace() -> Workspace:
    """The workspace for this invocation (opened once, jobs reconciled on open)."""
    if state.workspace is None:
        from forgeml.core.workspace import Workspace
        from forgeml.settings import load_settings

        settings = load_settings(home=state.home)
        if state.read_only and settings.database_url is None and not (settings.resolved_home / "forgeml.db").exists():
            from forgeml.errors import NotFoundError

            raise NotFoundError(
                f"no workspace at {settings.resolved_home} (pass --home or set FORGEML_HOME; commands that write create it)"
            )
        state.workspace = Workspace(settings)
    return state.workspace


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def print_json(data: Any) -> None:
    import orjson

    try:
        text = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:
        text = json.dumps(data, indent=2, default=str).encode()
    sys.stdout.buffer.write(text + b"\n")
    sys.stdout.flush()


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a table that fits the terminal (see :mod:`forgeml.cli._table`); columns in priority order.

    After the first table of an invocation, stderr says which workspace it read; a table that hides
    columns says on stderr which, and how to see them.
    """
    from forgeml.cli._table import render

    footer = render(title, columns, rows, state.tables)
    if state.workspace is not None and not state.announced:
        state.announced = True
        sys.stdout.flush()
        sys.stderr.write(f"workspace {state.workspace.home}\n")
    if footer:
        sys.stdout.flush()
        sys.stderr.write(footer + "\n")


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print ``data`` as JSON when asked, else call ``render`` for the human view."""
    if as_json:
        print_json(data)
    else:
        render()


def short_time(iso_text: str | None) -> str:
    return "" if not iso_text else iso_text.replace("T", " ")[:19]
