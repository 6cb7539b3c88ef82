"""``forgeml lineage``: where a resource came from, or what was made from it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from forgeml.cli._common import console, print_json, workspace
from forgeml.cli._refs import ref_argument

if TYPE_CHECKING:
    from rich.tree import Tree

    from forgeml.core.lineage import LineageNode


def _short(ref: str) -> str:
    kind, _, rest = ref.partition("/")
    return f"{kind}/{rest[:12]}…" if kind == "artifact" and len(rest) > 12 else ref


def _add(tree: Tree, node: LineageNode, expanded: set[str]) -> None:
    for child in node.children:
        label = f"[dim]{child.relation}[/dim] {_short(child.ref)}" if child.relation else _short(child.ref)
        if child.ref in expanded and child.children:
            tree.add(f"{label} [dim](see above)[/dim]")
            continue
        expanded.add(child.ref)
        _add(tree.add(label), child, expanded)


def render(node: LineageNode, title: str) -> None:
    """Print a lineage tree; a node met again is not expanded twice, digests are shortened."""
    from rich.tree import Tree

    tree = Tree(f"[bold]{node.ref}[/bold] [dim]({title})[/dim]")
    _add(tree, node, {node.ref})
    console().print(tree)


def lineage(
    resource: str = ref_argument("REF"),
    downstream: bool = typer.Option(False, "--downstream", help="Show what was made from it instead."),
    depth: int = typer.Option(20, help="How many hops to follow."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of a tree."),
) -> None:
    """Print the lineage tree of a resource (upstream by default)."""
    service = workspace().lineage
    node = service.downstream(resource, depth) if downstream else service.upstream(resource, depth)
    if as_json:
        print_json(node.to_dict())
    else:
        render(node, "downstream" if downstream else "upstream")
