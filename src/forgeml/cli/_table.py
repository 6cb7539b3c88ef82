"""Tables that fit the terminal: pick the columns that fit, never wrap an identifier, say what is hidden.

A table's columns are given in priority order (identifiers first). At the terminal's width the
table keeps the columns in that order up to the first that does not fit (the first two always); identifier columns (the
first column, and any whose header names an identifier such as ``name``, ``ref`` or ``digest``)
are never wrapped or truncated, so what is shown can be copied. Other columns wrap their text at
spaces, never inside a word (a digest or a path in a value stays whole): when even the columns
always shown do not fit, the lines grow longer than the terminal rather than cut an identifier.
Hidden columns are named on stderr with how to see them: ``--wide`` (every column, lines as long
as they need), ``--columns a,b,c`` (these columns, in this order) or ``--json``.

Cells never show Python reprs: ``{"champion": 1}`` renders as ``champion=1`` and lists as
``a, b``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Headers that name an identifier a user copies into another command: never wrapped or truncated.
ID_HEADERS = frozenset({
    "name", "ref", "run", "runs", "job", "training job", "training job / run", "dataset", "model", "endpoint", "experiment",
    "resource", "digest", "content hash", "id", "record id", "input", "group", "version", "alias", "report",
})  # fmt: skip

MIN_WRAP = 12  # a wrapping column is never narrower than this (or its text, when shorter)
KEEP = 2  # columns always shown, even when the line must then be wider than the terminal
FOOTER_NAMES = 5  # hidden columns named in the footer; the rest are counted


@dataclass
class TableOptions:
    """How this invocation wants its tables: all columns (``--wide``) or the named ones (``--columns``)."""

    wide: bool = False
    columns: list[str] = field(default_factory=list)


def cell_text(value: Any, *, nested: bool = False) -> str:
    """Human text of one cell: ``None`` is empty, mappings are ``k=v, …``, sequences ``a, b``."""
    if value is None:
        return ""
    if isinstance(value, dict):
        text = ", ".join(f"{k}={cell_text(v, nested=True)}" for k, v in value.items())
        return f"{{{text}}}" if nested else text
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        text = ", ".join(cell_text(v, nested=True) for v in items)
        return f"[{text}]" if nested else text
    return str(value)


def parse_columns(text: str | None) -> list[str]:
    """``--columns a,b,c`` as a list of names (empty when not given)."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def terminal_width() -> int:
    """Width to fit: ``COLUMNS`` when set, else the terminal's, else 80."""
    return shutil.get_terminal_size((80, 24)).columns


def _width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.splitlines()), default=0)


def _min_width(header: str, cells: list[str], natural: int) -> int:
    """Narrowest a wrapping column gets: wide enough for its longest word, so that a digest, a
    path or a reference inside free text is never cut either."""
    longest_word = max((_width(w) for text in (header, *cells) for w in text.split()), default=0)
    return max(1, min(natural, max(MIN_WRAP, longest_word)))


def _pick(columns: list[str], wanted: list[str], title: str | None) -> list[int]:
    from forgeml.errors import ValidationError

    by_name = {c.strip().lower(): i for i, c in enumerate(columns)}
    unknown = [w for w in wanted if w.lower() not in by_name]
    if unknown:
        where = f" of table {title!r}" if title else ""
        named = [c for c in columns if c.strip()]
        listed = ", ".join(named[:10]) + (f" and {len(named) - 10} more (--json lists them)" if len(named) > 10 else "")
        raise ValidationError(f"--columns: no column {', '.join(map(repr, unknown))}{where}; its columns are: {listed}")
    return [by_name[w.lower()] for w in wanted]


def layout(
    columns: Sequence[str], cells: list[list[str]], width: int, opts: TableOptions, title: str | None = None
) -> tuple[list[int], list[int], list[bool]]:
    """Choose the columns to show and their widths.

    Returns:
        (indexes of the columns shown, in display order; their widths; whether each is an identifier).
    """
    columns = list(columns)
    natural = [max(_width(h), *(_width(r[i]) for r in cells), 1) if cells else max(_width(h), 1) for i, h in enumerate(columns)]
    is_id = [i == 0 or h.strip().lower() in ID_HEADERS for i, h in enumerate(columns)]
    # a column with no header and no text has nothing to show
    candidates = [i for i, h in enumerate(columns) if h.strip() or any(r[i] for r in cells)]
    if opts.columns:
        chosen = _pick(columns, opts.columns, title)
    elif opts.wide:
        chosen = candidates
    else:
        chosen = []
        used = 1  # the left edge
        for i in candidates:
            need = (natural[i] if is_id[i] else _min_width(columns[i], [r[i] for r in cells], natural[i])) + 3
            if len(chosen) >= KEEP and used + need > width:
                break  # priority order: a narrower column further on does not jump the queue
            chosen.append(i)
            used += need
    if opts.wide:
        return chosen, [natural[i] for i in chosen], [True for _ in chosen]
    widths = [natural[i] if is_id[i] else _min_width(columns[i], [r[i] for r in cells], natural[i]) for i in chosen]
    spare = width - (1 + sum(w + 3 for w in widths))
    while spare > 0:  # share the rest: widen the narrowest column that still wraps, one cell at a time
        wanting = [k for k, i in enumerate(chosen) if widths[k] < natural[i]]
        if not wanting:
            break
        widths[min(wanting, key=lambda k: widths[k])] += 1
        spare -= 1
    return chosen, widths, [is_id[i] for i in chosen]


def render(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], opts: TableOptions) -> str | None:
    """Print the table on stdout; return the footer naming hidden columns (``None`` when all are shown)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    cells = [[cell_text(v) for v in row] for row in rows]
    width = terminal_width()
    chosen, widths, ids = layout(columns, cells, width, opts, title)
    needed = 1 + sum(w + 3 for w in widths)
    # a title no wider than the terminal stays on one line: the table may grow to it
    table = Table(title=None if title is None else Text(title), show_lines=False, header_style="bold", min_width=min(width, _width(title or "")) or None)
    for i, w, ident in zip(chosen, widths, ids, strict=True):
        table.add_column(Text(columns[i]), width=w, no_wrap=ident, overflow="fold")
    for row in cells:  # Text, not str: a value such as "[draft]" is data, not Rich markup
        table.add_row(*(Text(row[i]) for i in chosen))
    Console(highlight=False, soft_wrap=False, width=max(width, needed)).print(table)
    shown = set(chosen)
    hidden = [c for i, c in enumerate(columns) if i not in shown and (c.strip() or any(r[i] for r in cells))]
    if not hidden or opts.columns:
        return None
    named = ", ".join(hidden[:FOOTER_NAMES]) + (f" and {len(hidden) - FOOTER_NAMES} more" if len(hidden) > FOOTER_NAMES else "")
    example = ",".join(c for c in (columns[chosen[0]], *hidden[:2]) if " " not in c and "," not in c) or "NAME,…"
    return f"{len(chosen)} of {len(chosen) + len(hidden)} columns shown; hidden: {named}. See all: --wide; choose: --columns {example}; or --json"


__all__ = ["ID_HEADERS", "TableOptions", "cell_text", "layout", "parse_columns", "render", "terminal_width"]
