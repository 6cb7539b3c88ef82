"""Every report a user can open (``ws.reports``): one table of report kinds, one way to get the
HTML of a stored report and to write it where a browser can open it.

    ws.reports.html("evaluation/loans:1")                # the page, as text
    ws.reports.write("bias-report/loans", "bias.html")   # -> Path("bias.html"), written atomically
    ws.reports.write("data-profile/loans")               # -> <home>/reports/data-profile-loans-1.html
    ws.reports.list()                                    # every stored report, newest first

A report is a stored resource of one of :data:`KINDS`. Most keep their page as an ``html``
document (an artifact); the others are rendered from what they store. The pages are
self-contained (inline CSS and SVG) and open offline.
"""

from __future__ import annotations

import importlib
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.core.records import ResourceRecord
    from forgeml.core.workspace import Workspace

# kind -> (what it is, "module:function(ws, record) -> html" for kinds that store no page)
KINDS: dict[str, tuple[str, str | None]] = {
    "data-profile": ("dataset profile", None),
    "data-validation": ("data-quality validation", "forgeml.data._validation_html:render_record"),
    "evaluation": ("model evaluation", None),
    "bias-report": ("bias report", None),
    "explanation": ("explanation (SHAP, partial dependence)", None),
    "model-card": ("model card", None),
    "monitoring-execution": ("data-quality monitoring execution", None),
    "model": ("ONNX compile report of a compiled model version", "forgeml.registry._compile_html:render_record"),
}
FOLDER = "reports"


class ReportService:
    """Find, render and write the HTML of stored reports."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    @property
    def folder(self) -> Path:
        """Where reports are written when no path is given: ``<home>/reports``."""
        return self.ws.home / FOLDER

    def get(self, ref: str | ResourceRecord, kind: str | None = None) -> ResourceRecord:
        """The report record behind ``KIND/NAME[:VERSION]`` (or ``NAME[:VERSION]`` with ``kind``).

        Raises:
            ValidationError: a malformed reference, or a kind that is not a report.
            NotFoundError: no such report.
        """
        from forgeml.core.records import ResourceRecord
        from forgeml.core.refs import parse_ref, resolve

        found = ref.kind if isinstance(ref, ResourceRecord) else parse_ref(ref, kind).kind
        if found not in KINDS:
            raise ValidationError(f"{found!r} is not a report kind (reports: {', '.join(KINDS)})")
        return resolve(self.ws.metadata, ref, found)

    def html(self, ref: str | ResourceRecord, kind: str | None = None) -> str:
        """The report's self-contained HTML page.

        Raises:
            NotFoundError: no such report, or one that has no page.
        """
        record = self.get(ref, kind)
        digest = (record.data.get("artifacts") or {}).get("html")
        if digest:
            return self.ws.artifacts.read_bytes(digest).decode()
        renderer = KINDS[record.kind][1]
        if renderer is None:
            raise NotFoundError(f"{record.ref} has no HTML page")
        module, _, func = renderer.partition(":")
        page: str = getattr(importlib.import_module(module), func)(self.ws, record)
        return page

    def default_path(self, record: ResourceRecord) -> Path:
        """``<home>/reports/<kind>-<name>-<version>.html``."""
        return self.folder / f"{record.kind}-{record.name}-{record.version}.html"

    def write(self, ref: str | ResourceRecord, path: str | Path | None = None, *, kind: str | None = None) -> Path:
        """Write the report's page to ``path`` (default :meth:`default_path`) and return it.

        The file is written to a temporary name and renamed into place, so it is never half there;
        missing parent folders are created.

        Raises:
            NotFoundError: no such report, or one without a page.
            ValidationError: ``path`` is an existing folder.
        """
        record = self.get(ref, kind)
        page = self.html(record)
        target = Path(path).expanduser() if path is not None else self.default_path(record)
        if target.is_dir():
            raise ValidationError(f"{target} is a folder; give a file name such as {target / (record.name + '.html')}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            tmp.write_text(page, encoding="utf-8")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def list(self, kind: str | None = None) -> list[ResourceRecord]:
        """Stored reports (of one kind, or of every kind), newest first. Model versions count only
        when they carry a compile report.

        Raises:
            ValidationError: ``kind`` is not a report kind.
        """
        if kind is not None and kind not in KINDS:
            raise ValidationError(f"{kind!r} is not a report kind (reports: {', '.join(KINDS)})")
        found: list[Any] = []
        for k in [kind] if kind else list(KINDS):
            records = self.ws.metadata.list_resources(k)
            found += [r for r in records if k != "model" or r.data.get("compilation")]
        return sorted(found, key=lambda r: (r.created_at, r.version), reverse=True)


__all__ = ["FOLDER", "KINDS", "ReportService"]
