"""Shared CLI plumbing: the workspace, output as tables or JSON, and progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from forgeml.core.workspace import Workspace


class _State:
    home: str | None = None
    debug: bool = False
    workspace: Workspace | None = None


state = _State()

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def workspace() -> Workspace:
    """The workspace for this invocation (opened once, jobs reconciled on open)."""
    if state.workspace is None:
        from forgeml.core.workspace import Workspace
        from forgeml.settings import load_settings

        state.workspace = Workspace(load_settings(home=state.home))
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
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console().print(table)


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    """Print ``data`` as JSON when asked, else call ``render`` for the human view."""
    if as_json:
        print_json(data)
    else:
        render()


def short_time(iso_text: str | None) -> str:
    return "" if not iso_text else iso_text.replace("T", " ")[:19]
