"""Data preparation over workspace datasets: profile, validate, drift, PII, recipes, splits.

Every operation reads a dataset version through ``ws.datasets`` (DuckDB streams its Parquet file),
stores what it produced (reports as artifacts and a small resource record, derived rows as new
dataset versions) and records lineage from the input version. The CLI and REST API call only this.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgeml.core.records import ResourceRecord
from forgeml.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from forgeml.core.workspace import Workspace

DQ_SUFFIX = "-dq-quarantine"
KINDS = {"profile": "data-profile", "validation": "data-validation", "pii": "pii-report", "recipe": "recipe"}


def dq_quarantine_name(name: str) -> str:
    """The side dataset holding rows that failed row-level data-quality rules of ``name``."""
    return f"{name[: 63 - len(DQ_SUFFIX)]}{DQ_SUFFIX}"


class DataPrepService:
    """Profiling, validation, drift, PII protection, recipes and splits of workspace datasets."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    # ---- helpers ---------------------------------------------------------------------------
    def _source(self, name: str, version: int | None) -> tuple[ResourceRecord, Path]:
        """The dataset version a reference names (see :mod:`forgeml.core.refs`) and its local file."""
        record = self.ws.datasets.get(name, version)
        return record, self.ws.datasets.local_path(record)

    def _report(self, kind: str, dataset: ResourceRecord, report: dict[str, Any], summary: dict[str, Any],
                extra_artifacts: dict[str, bytes] | None = None) -> ResourceRecord:  # fmt: skip
        arts = {"json": self.ws.artifacts.put_bytes(json.dumps(report, sort_keys=True, default=str).encode(), media_type="application/json")}
        for label, blob in (extra_artifacts or {}).items():
            arts[label] = self.ws.artifacts.put_bytes(blob, media_type="text/html" if label == "html" else None)
        record = self.ws.metadata.create_resource(
            ResourceRecord(kind=KINDS[kind], name=dataset.name, status="Completed", spec={"dataset": dataset.ref},
                           data={"artifacts": {k: a.digest for k, a in arts.items()}, "summary": summary}),
            next_version=True,
        )  # fmt: skip
        for art in arts.values():
            self.ws.metadata.put_artifact(art, owner=record.ref)
        self.ws.lineage.record(dataset.ref, record.ref, kind)
        return record

    # ---- profile ---------------------------------------------------------------------------
    def profile(self, name: str, version: int | None = None, *, label: str | None = None, html: bool = True, **options: Any) -> dict[str, Any]:
        """Profile a dataset version; stores the JSON (and HTML) report.

        Returns:
            ``{"record": the data-profile record dict, "report": the profile, "html": page or None}``.
        """
        from forgeml.data._profile import profile
        from forgeml.data._profile_html import render_html

        dataset, path = self._source(name, version)
        report = profile(path, label=label, **options)
        report["dataset"] = dataset.ref
        page = render_html(report, title=f"Profile of {dataset.ref}") if html else None
        summary = {"rows": report["rows"], "columns": len(report["columns"]),
                   "missing_cells": sum(c["missing"] for c in report["columns"])}  # fmt: skip
        record = self._report("profile", dataset, report, summary, {"html": page.encode()} if page else None)
        return {"record": record.to_dict(), "report": report, "html": page}

    # ---- validation ------------------------------------------------------------------------
    def validate(self, name: str, rules: Any, version: int | None = None, *, quarantine: bool = True,
                 clean_name: str | None = None, now: Any = None) -> dict[str, Any]:  # fmt: skip
        """Evaluate DQDL rules on a dataset version.

        Rows breaking a failed row-level rule go to the side dataset ``<name>-dq-quarantine`` (with
        ``_dq_row`` and ``_dq_failed_rules``); with ``clean_name`` the passing rows become a new
        version of that dataset. Nothing is dropped silently.
        """
        import pyarrow.parquet as pq

        from forgeml.core.sql_sandbox import SqlLimits
        from forgeml.data._validation import validate

        dataset, path = self._source(name, version)
        with tempfile.TemporaryDirectory() as tmp:
            qpath = str(Path(tmp) / "q.parquet") if quarantine else None
            cpath = str(Path(tmp) / "c.parquet") if clean_name else None
            report = validate(path, rules, now=now, quarantine_path=qpath, clean_path=cpath,
                              limits=SqlLimits.from_settings(self.ws.settings))  # fmt: skip
            report["dataset"] = dataset.ref
            if qpath and report["rows_quarantined"]:
                q = self.ws.datasets.commit(
                    dq_quarantine_name(dataset.name), pq.read_table(qpath), enforce_schema=False,
                    spec={"description": f"rows of {dataset.ref} failing data-quality rules", "source": dataset.ref},
                    derived_from=[dataset.ref],
                )  # fmt: skip
                report["quarantine"] = {"dataset": q.ref, "rows": q.data["rows"]}
            if cpath:
                c = self.ws.datasets.commit(
                    clean_name, pq.read_table(cpath), enforce_schema=False,  # type: ignore[arg-type]
                    spec={"description": f"rows of {dataset.ref} passing data-quality rules", "source": dataset.ref},
                    derived_from=[dataset.ref],
                )  # fmt: skip
                report["clean"] = {"dataset": c.ref, "rows": c.data["rows"]}
        summary = {k: report[k] for k in ("passed", "rules_passed", "rules_failed", "rows_quarantined")}
        record = self._report("validation", dataset, report, summary)
        return {"record": record.to_dict(), "report": report}

    def drift(self, name: str, base_version: int | str, version: int | None = None, *,
              other: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Schema and data drift of a dataset version against a base.

        ``name`` is the current side (its latest, or ``version``, or the version its reference
        names), unless ``other`` names another dataset for it. ``base_version`` is a version of
        ``name``'s dataset or any dataset reference.
        """
        from forgeml.core.refs import parse_ref
        from forgeml.data._drift import schema_drift

        own = parse_ref(name, "dataset")
        if isinstance(base_version, int) or str(base_version).isdigit():
            base, base_path = self._source(own.name, int(base_version))
        else:
            base, base_path = self._source(str(base_version), None)
        current, current_path = self._source(other, version) if other else self._source(name, version)
        report = schema_drift(base_path, current_path)
        report["base"], report["current"] = base.ref, current.ref
        return report

    def suggest_rules(self, name: str, version: int | None = None) -> str:
        """A DQDL ruleset the version satisfies now (to review and keep)."""
        from forgeml.data._drift import suggest_rules

        return suggest_rules(self._source(name, version)[1])

    # ---- PII -------------------------------------------------------------------------------
    def scan_pii(self, name: str, version: int | None = None, *, sample_rows: int | None = None) -> dict[str, Any]:
        """Detect PII in every column of a dataset version; stores the report."""
        from forgeml.data._pii import scan

        dataset, path = self._source(name, version)
        report = scan(path, sample_rows=sample_rows)
        report["dataset"] = dataset.ref
        record = self._report("pii", dataset, report, {"pii_columns": report["pii_columns"], "entities": report["summary"]})
        return {"record": record.to_dict(), "report": report}

    def protect_pii(self, name: str, steps: list[dict[str, Any]] | None = None, version: int | None = None,
                    *, output: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Apply protection steps (default: :func:`auto_steps` from a fresh scan) and store the
        result as the next version of ``output`` (default: ``name``). The HMAC key and hash salt
        live in ``<workspace>/secrets``; tokens stay stable across runs of one workspace."""
        from forgeml.data._pii import auto_steps, protect, scan, workspace_secret

        dataset, path = self._source(name, version)
        found = scan(path) if steps is None else None
        steps = auto_steps(found) if found is not None else steps
        frame = self.ws.datasets.read(dataset)
        protected, report = protect(frame, steps or [], key=workspace_secret(self.ws.home, "pii-hmac", self.ws.artifacts.envelope),
                                    salt=workspace_secret(self.ws.home, "pii-salt", self.ws.artifacts.envelope))  # fmt: skip
        report["dataset"] = dataset.ref
        report["found"] = found["summary"] if found else None
        if not steps:
            report["output"] = None
            report["note"] = "no PII found and no steps given: nothing changed, no new version written"
            return report
        out = self.ws.datasets.create(output or dataset.name, protected, description=f"PII-protected {dataset.ref}",
                                      source=dataset.ref, derived_from=[dataset.ref])  # fmt: skip
        report["output"] = out.ref
        self._report("pii", dataset, report, {"protected": out.ref, "steps": len(steps)})
        return report

    # ---- recipes and splits ----------------------------------------------------------------
    def fit_recipe(self, name: str, spec: Any, version: int | None = None, *, target: str | None = None,
                   columns: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
        """Fit a recipe spec (dict or YAML text) on a dataset version; stores the fitted recipe JSON."""
        from forgeml.data.recipes import Recipe

        recipe = Recipe.from_yaml(spec) if isinstance(spec, str) else Recipe.from_dict(spec)
        recipe.check_access(self.ws.access, "spec")
        dataset = self.ws.datasets.get(name, version)
        frame = self.ws.datasets.read(dataset)
        if columns:
            missing = [c for c in [*columns, *([target] if target else [])] if c not in frame.columns]
            if missing:
                raise ValidationError(f"column(s) {', '.join(missing)} not in dataset {dataset.ref}")
            frame = frame[[*columns, *([target] if target and target not in columns else [])]]
        fitted = recipe.fit(frame, target=target)
        data = fitted.to_dict()
        art = self.ws.artifacts.put_json(data)
        record = self.ws.metadata.create_resource(
            ResourceRecord(kind=KINDS["recipe"], name=dataset.name, status="Fitted", spec={"dataset": dataset.ref, "recipe": recipe.to_dict()},
                           data={"artifact": art.digest, "input_columns": fitted.input_columns, "output_columns": fitted.output_columns}),
            next_version=True,
        )  # fmt: skip
        self.ws.metadata.put_artifact(art, owner=record.ref)
        self.ws.lineage.record(dataset.ref, record.ref, "fitted")
        return {"record": record.to_dict(), "fitted": data}

    def split(self, name: str, version: int | None = None, *, method: str = "random", fractions: tuple[float, ...] = (0.7, 0.15, 0.15),
              prefix: str | None = None, **options: Any) -> dict[str, ResourceRecord]:  # fmt: skip
        """Split a dataset version into ``<prefix>-train`` / ``-validation`` / ``-test`` datasets."""
        from forgeml.data._split import split

        dataset = self.ws.datasets.get(name, version)
        frame = self.ws.datasets.read(dataset)
        parts = split(frame, method, fractions, **options)
        out = {}
        for part, rows in parts.items():
            out[part] = self.ws.datasets.create(
                f"{prefix or dataset.name}-{part}", rows.reset_index(drop=True), source=dataset.ref,
                description=f"{part} split ({method}) of {dataset.ref}", derived_from=[dataset.ref],
                tags={"split": part, "method": method},
            )  # fmt: skip
        return out

    def latest_report(self, name: str, kind: str, version: int | None = None) -> ResourceRecord:
        """The newest stored report of ``kind`` (``profile``, ``validation``, ``pii``, ``recipe``)
        of the dataset version a reference names (its latest version by default).

        Raises:
            NotFoundError: the version has no such report yet.
        """
        if kind not in KINDS:
            raise ValidationError(f"unknown report kind {kind!r} (known: {', '.join(KINDS)})")
        dataset = self.ws.datasets.get(name, version)
        for record in self.ws.metadata.list_resources(KINDS[kind], name=dataset.name):
            if record.spec.get("dataset") == dataset.ref:
                return record
        raise NotFoundError(f"{dataset.ref} has no {kind} report yet (run `forgeml data {kind} {dataset.name}:{dataset.version}`)")

    def reports(self, name: str, kind: str) -> list[dict[str, Any]]:
        """Stored reports of one kind (``profile``, ``validation``, ``pii``, ``recipe``) for a dataset,
        or for the one version its reference names."""
        if kind not in KINDS:
            raise ValidationError(f"unknown report kind {kind!r} (known: {', '.join(KINDS)})")
        from forgeml.core.refs import parse_ref

        ref = parse_ref(name, "dataset")
        only = self.ws.datasets.get(ref).ref if ref.selector is not None else None
        found = self.ws.metadata.list_resources(KINDS[kind], name=ref.name)
        return [r.to_dict() for r in found if only is None or r.spec.get("dataset") == only]


__all__ = ["DQ_SUFFIX", "DataPrepService", "dq_quarantine_name"]
