"""The DAG of an execution in the terminal: one row of boxes per level, each box a step with its
status (coloured) and duration, and the steps it waits for."""

from __future__ import annotations

from typing import Any

COLOURS = {"Succeeded": "green", "Failed": "red", "Executing": "yellow", "Starting": "yellow", "Stopping": "magenta",
           "Stopped": "magenta", "NotStarted": "dim", "NotExecuted": "dim"}  # fmt: skip


def levels(steps: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Steps grouped by their longest distance from a step with no dependencies."""
    by_name = {s["step"]: s for s in steps}
    depth: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in depth:
            deps = by_name[name].get("depends_on") or []
            depth[name] = 1 + max((level(d) for d in deps), default=-1)
        return depth[name]

    out: list[list[dict[str, Any]]] = []
    for s in steps:
        n = level(s["step"])
        while len(out) <= n:
            out.append([])
        out[n].append(s)
    return out


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def render(described: dict[str, Any]) -> Any:
    """A Rich renderable of ``ws.pipelines.describe(...)``."""
    from rich.columns import Columns
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    parts: list[Any] = []
    head = Text(f"pipeline {described['pipeline']}:{described['version']}  execution {described['id']}  ")
    head.append(described["status"], style=COLOURS.get(described["status"], ""))
    parts.append(head)
    if described.get("failure_reason"):
        parts.append(Text(f"failure: {described['failure_reason']}", style="red"))
    for i, row in enumerate(levels(described["steps"])):
        if i:
            parts.append(Text("  │\n  ▼", style="dim"))
        boxes = []
        for s in row:
            body = Text()
            body.append(s["status"], style=COLOURS.get(s["status"], ""))
            body.append(f"  {_duration(s.get('duration_seconds'))}")
            if s.get("attempt", 1) > 1:
                body.append(f"  attempt {s['attempt']}")
            if s.get("cache_hit"):
                body.append("  (cached)", style="cyan")
            if s.get("depends_on"):
                body.append(f"\nafter {', '.join(s['depends_on'])}", style="dim")
            if s.get("branch"):
                body.append(f"\nif {s['branch']['condition']} is {str(s['branch']['outcome']).lower()}", style="dim")
            if s.get("failure_reason"):
                body.append(f"\n{s['failure_reason'][:80]}", style="red")
            boxes.append(Panel(body, title=f"{s['step']} ({s['type']})", expand=False,
                               border_style=COLOURS.get(s["status"], "")))  # fmt: skip
        parts.append(Columns(boxes))
    return Group(*parts)


__all__ = ["levels", "render"]
