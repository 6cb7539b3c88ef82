"""``forgeml lineage``: where a resource came from, or what was made from it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from forgeml.cli._common import console, print_json, workspace

if TYPE_CHECKING:
    from rich.tree import Tree

    from forgeml.core.lineage import LineageNode


def _add(tree: Tree, node: LineageNode) -> None:
    for child in node.children:
        label = f"[dim]{child.relation}[/dim] {child.ref}" if child.relation else child.ref
        _add(tree.add(label), child)


def render(node: LineageNode, title: str) -> None:
    from rich.tree import Tree

    tree = Tree(f"[bold]{node.ref}[/bold] [dim]({title})[/dim]")
    _add(tree, node)
    console().print(tree)


def lineage(
    resource: str = typer.Argument(..., help="KIND/NAME[:VERSION], e.g. model/loans:1, job/NAME, endpoint/loans."),
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
