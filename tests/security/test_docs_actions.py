"""docs/security.md lists every action of the route table, each with its routes (issue 14, item 8)."""

from __future__ import annotations

from pathlib import Path

from forgeml.security._actions import markdown_table

DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_docs_action_table_is_the_route_table() -> None:
    text = DOCS.read_text()
    missing = [line.split("|")[1].strip() for line in markdown_table().splitlines()[2:] if line not in text]
    assert not missing, f"docs/security.md is out of date for {', '.join(missing)}: python -m forgeml.security._actions prints the table"
