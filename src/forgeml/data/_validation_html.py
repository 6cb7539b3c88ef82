"""The HTML page of a data-quality validation report (self-contained, opens offline)."""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forgeml.core.records import ResourceRecord
    from forgeml.core.workspace import Workspace


def render_validation(report: dict[str, Any], title: str) -> str:
    """One summary line, then a table of every rule with its outcome, metrics and failed rows."""
    from forgeml.evaluation._html import render_report, table_html

    verdict = "pass" if report.get("passed") else "fail"
    summary = (
        f'<p class="{verdict}"><b>{"passed" if report.get("passed") else "failed"}</b>: '
        f"{report.get('rules_passed', 0)} rule(s) passed, {report.get('rules_failed', 0)} failed, on "
        f"{report.get('rows', '?')} rows of <code>{escape(str(report.get('dataset', '')))}</code>; "
        f"{report.get('rows_quarantined', 0)} row(s) quarantined</p>"
    )
    rows = [
        (r.get("outcome"), r.get("rule"), ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in (r.get("metrics") or {}).items()),
         r.get("failed_rows", ""), r.get("message") or "")
        for r in report.get("rules", [])
    ]  # fmt: skip
    side = "".join(
        f"<p>{escape(key)}: {report[key]['rows']} row(s) in <code>{escape(str(report[key]['dataset']))}</code></p>"
        for key in ("quarantine", "clean") if report.get(key)
    )  # fmt: skip
    body = summary + "<h2>Rules</h2>" + table_html(rows, ("outcome", "rule", "metrics", "failed rows", "message")) + side
    return render_report(title, extra_html=body)


def render_record(ws: Workspace, record: ResourceRecord) -> str:
    """The page of a stored ``data-validation`` record (from its JSON report)."""
    report = json.loads(ws.artifacts.read_bytes(record.data["artifacts"]["json"]))
    return render_validation(report, f"Validation of {report.get('dataset', record.name)}")


__all__ = ["render_record", "render_validation"]
