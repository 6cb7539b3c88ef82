"""Lineage: artifacts and resources are nodes, jobs record edges as they read and write.

Node references are path-like: ``dataset/loans:3``, ``job/train-1``, ``model/loans:2``,
``endpoint/loans:1``, ``artifact/<sha256>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forgeml.core.metadata import MetadataStore
from forgeml.core.records import EdgeRecord
from forgeml.errors import NotFoundError


@dataclass(frozen=True)
class LineageNode:
    """One node of a lineage tree and the nodes reached from it."""

    ref: str
    relation: str | None = None
    children: tuple[LineageNode, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "relation": self.relation,
            "children": [c.to_dict() for c in self.children],
        }

    def refs(self) -> set[str]:
        """Every reference in the tree, this node included."""
        out = {self.ref}
        for child in self.children:
            out |= child.refs()
        return out


class LineageService:
    """Record and query the lineage graph."""

    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata

    def record(self, src: str, dst: str, relation: str = "produced", job: str | None = None) -> None:
        self.metadata.add_edges([EdgeRecord(src, dst, relation, job)])

    def resolve(self, ref: str) -> str:
        """Complete a reference: ``dataset/loans`` becomes the latest ``dataset/loans:N``,
        ``model/loans@champion`` the version it points at, ``artifact/ab12`` the full digest.

        Raises:
            ValidationError: when ``ref`` is not ``KIND/NAME[:VERSION|@ALIAS]`` (see ``forgeml.core.refs``).
            NotFoundError: when nothing by that reference exists.
        """
        from forgeml.core.refs import parse_ref, resolve, resolve_digest

        parsed = parse_ref(ref)
        if parsed.kind == "artifact":
            return f"artifact/{resolve_digest(self.metadata, parsed.name)}"
        if parsed.kind == "job":
            return self.metadata.get_job(parsed.name).ref
        if parsed.kind == "run":
            return str(parsed)
        if parsed.version is not None and (self.metadata.list_edges(src=str(parsed)) or self.metadata.list_edges(dst=str(parsed))):
            return str(parsed)
        try:
            return resolve(self.metadata, parsed, parsed.kind).ref
        except NotFoundError:
            if parsed.selector is not None:
                raise
        # a deleted resource (an endpoint, say) keeps its lineage: use its newest version there
        prefix = f"{parsed.kind}/{parsed.name}:"
        versions = [
            int(node[len(prefix) :])
            for node in self.metadata.lineage_nodes(prefix)
            if node[len(prefix) :].isdigit()
        ]
        if versions:
            return f"{prefix}{max(versions)}"
        raise NotFoundError(f"{parsed.kind} {parsed.name!r} does not exist (nothing to trace)")

    def canonical(self, ref: str) -> str:
        """``ref`` completed as :meth:`resolve` does, or just in canonical form when nothing by it
        exists any more (a deleted endpoint keeps its events and lineage under its name).

        Raises:
            ValidationError: a malformed reference.
        """
        from forgeml.core.refs import parse_ref

        try:
            return self.resolve(ref)
        except NotFoundError:
            return str(parse_ref(ref))

    def _walk(self, ref: str, upstream: bool, depth: int, seen: frozenset[str], relation: str | None) -> LineageNode:
        if depth == 0 or ref in seen:
            return LineageNode(ref, relation)
        edges = self.metadata.list_edges(dst=ref) if upstream else self.metadata.list_edges(src=ref)
        seen = seen | {ref}
        children = tuple(
            self._walk(e.src if upstream else e.dst, upstream, depth - 1, seen, e.relation) for e in edges
        )
        return LineageNode(ref, relation, children)

    def upstream(self, ref: str, depth: int = 20) -> LineageNode:
        """Everything ``ref`` was made from, as a tree rooted at ``ref``."""
        return self._walk(self.resolve(ref), True, depth, frozenset(), None)

    def downstream(self, ref: str, depth: int = 20) -> LineageNode:
        """Everything made from ``ref``, as a tree rooted at ``ref``."""
        return self._walk(self.resolve(ref), False, depth, frozenset(), None)


__all__ = ["LineageNode", "LineageService"]
