"""The HTML page of an ONNX compile report (sizes, latencies, deviation), opens offline."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError

if TYPE_CHECKING:
    from forgeml.core.records import ResourceRecord
    from forgeml.core.workspace import Workspace


def render_compilation(report: dict[str, Any], title: str, source: str | None = None) -> str:
    """Before/after table of model size, single-row latency and batch throughput, plus the check."""
    from forgeml.evaluation._html import render_report, table_html

    before, after = report.get("before", {}), report.get("after", {})
    sizes = report.get("size_bytes", {})
    rows = [
        ("model bytes", sizes.get("before"), sizes.get("after")),
        ("single row (ms)", before.get("single_row_ms"), after.get("single_row_ms")),
        ("batch rows/s", before.get("batch_rows_per_second"), after.get("batch_rows_per_second")),
    ]
    check = [("rows checked", report.get("rows_checked")), ("max abs deviation", report.get("max_abs_deviation")),
             ("tolerance", report.get("tolerance")), ("converter", report.get("converter")),
             ("quantized", report.get("quantized"))]  # fmt: skip
    if "label_agreement" in report:
        check.append(("label agreement", report["label_agreement"]))
    intro = f"<p>compiled from <code>{escape(source)}</code></p>" if source else ""
    body = intro + "<h2>Before and after</h2>" + table_html(rows, ("", "before", "after"))
    body += "<h2>Check on held-out rows</h2>" + table_html(check, ("", ""))
    return render_report(title, extra_html=body)


def render_record(ws: Workspace, record: ResourceRecord) -> str:
    """The page of a compiled model version.

    Raises:
        NotFoundError: the version was not made by ``compile``.
    """
    report = record.data.get("compilation")
    if not report:
        raise NotFoundError(f"{record.ref} has no compile report (it was not made by `forgeml models compile`)")
    source = (record.spec.get("source") or {}).get("value")
    return render_compilation(report, f"ONNX compilation {record.ref}", source)


__all__ = ["render_compilation", "render_record"]
