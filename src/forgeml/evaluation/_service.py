"""``ws.evaluation``: evaluate model packages, compare champion and challenger, model cards."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from forgeml.errors import ValidationError
from forgeml.evaluation._card import build_card, card_html, card_markdown
from forgeml.evaluation._compare import compare
from forgeml.evaluation._html import render_report
from forgeml.evaluation._inputs import resolve_frame, resolve_model
from forgeml.evaluation._model import SECTIONS, evaluate_model, headline
from forgeml.evaluation._store import (
    default_name,
    get_record,
    json_bytes,
    read_document,
    store_result,
)

if TYPE_CHECKING:
    from forgeml.core.records import ResourceRecord
    from forgeml.core.workspace import Workspace

KIND = "evaluation"
CARD_KIND = "model-card"


class EvaluationService:
    """Evaluations (kind ``evaluation``) and model cards (kind ``model-card``) as resources."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def evaluate(
        self,
        model: Any,
        data: Any,
        *,
        target: str | None = None,
        name: str | None = None,
        threshold: float = 0.5,
        positive_label: Any = None,
        cost: dict[str, float] | None = None,
        model_ref: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> ResourceRecord:
        """Evaluate a model package on labelled data and store the report.

        Args:
            model: a registry reference (``loans:2``, ``model/loans@champion``), a package folder
                or a loaded package.
            data: a frame, a dataset (``loans``, ``loans:3``, a record) or a CSV/Parquet path.
            target: the label column (default: the package's target).
            name: resource name (default: the dataset's name, else ``evaluation``).
            threshold: binary decision threshold.
            positive_label: binary positive class (default: the package's second class).
            cost: ``{"fp":.., "fn":.., "tp":.., "tn":..}``: also pick the cost-optimal threshold.
            model_ref: an extra lineage reference for the model (``model/loans:2``).

        Returns:
            The ``evaluation`` resource; its ``data`` holds ``metrics`` (scalars) and
            ``artifacts`` (``report`` JSON, ``html`` report).

        Raises:
            ValidationError, NotFoundError, ModelError: bad input, missing things, a failing model.
        """
        loaded, artifact_ref, registry_ref = resolve_model(self.ws, model)
        model_ref = model_ref or registry_ref
        frame, data_ref = resolve_frame(self.ws, data)
        report = evaluate_model(loaded, frame, target=target, threshold=threshold, positive_label=positive_label, cost=cost)
        report["model"] = model_ref or artifact_ref
        report["data"] = data_ref
        name = name or default_name(data_ref, model_ref, fallback="evaluation")
        metrics = headline(report)
        html = render_report(f"Evaluation {name}", evaluation=report)
        return store_result(
            self.ws, KIND, name,
            spec={"model": artifact_ref, "model_ref": model_ref, "dataset": data_ref, "target": report["target"],
                  "threshold": threshold, "positive_label": report.get("positive_label"), "cost": cost},
            data={"problem_type": report["problem_type"], "rows": len(frame), "metrics": metrics},
            documents={"report": (json_bytes(report), "application/json"), "html": (html.encode(), "text/html")},
            inputs={"evaluated": artifact_ref, "evaluated-model": model_ref, "evaluated-on": data_ref},
            metrics=metrics, tags=tags,
        )  # fmt: skip

    def get(self, ref: str | ResourceRecord) -> ResourceRecord:
        """An evaluation by ``name``, ``name:version`` or ``evaluation/name:version``."""
        return get_record(self.ws, KIND, ref)

    def list(self, name: str | None = None) -> list[ResourceRecord]:
        """Evaluations, newest first (every version of ``name`` when given)."""
        from forgeml.core.refs import name_of

        return self.ws.metadata.list_resources(KIND, name=name_of(name, KIND) if name else None)

    def report(self, ref: str | ResourceRecord) -> dict[str, Any]:
        """The stored JSON report of an evaluation."""
        return json.loads(read_document(self.ws, self.get(ref), "report"))

    def html(self, ref: str | ResourceRecord) -> str:
        """The stored HTML report of an evaluation."""
        return read_document(self.ws, self.get(ref), "html").decode()

    def compare(
        self, challenger: Any, champion: Any | None, rules: list[str | dict[str, Any]]
    ) -> dict[str, Any]:
        """Pass or fail a challenger against a champion (see ``forgeml.evaluation.compare``).

        ``challenger`` and ``champion`` are evaluation references, records, reports or scalar
        metric dicts; ``champion`` may be None (only absolute bounds then apply).

        Raises:
            ValidationError: the two evaluations are of different problem types.
        """
        a, a_type = self._metrics(challenger)
        b, b_type = self._metrics(champion) if champion is not None else (None, None)
        if a_type and b_type and a_type != b_type:
            raise ValidationError(f"cannot compare a {a_type} evaluation with a {b_type} one")
        result = compare(a, b, rules)
        result["challenger_ref"] = self._ref(challenger)
        result["champion_ref"] = self._ref(champion)
        return result

    def gate(self, candidate: str, champion: str, data: Any, checks: list[str | dict[str, Any]], *,
             target: str | None = None, allow_no_champion: bool = False) -> dict[str, Any]:  # fmt: skip
        """The CI/CD gate: see :func:`forgeml.evaluation._gate.run_gate`."""
        from forgeml.evaluation._gate import run_gate

        return run_gate(self.ws, candidate, champion, data, checks, target=target, allow_no_champion=allow_no_champion)

    def _ref(self, item: Any) -> str | None:
        from forgeml.core.records import ResourceRecord

        if isinstance(item, ResourceRecord):
            return item.ref
        return self.get(item).ref if isinstance(item, str) else None

    def _metrics(self, item: Any) -> tuple[dict[str, float], str | None]:
        from forgeml.core.records import ResourceRecord

        if isinstance(item, str | ResourceRecord):
            record = self.get(item)
            return dict(record.data.get("metrics", {})), record.data.get("problem_type")
        if isinstance(item, dict) and any(s in item for s in SECTIONS.values()):
            return headline(item), item.get("problem_type")
        if isinstance(item, dict):
            return {k: float(v) for k, v in item.items()}, None
        raise ValidationError(f"cannot compare {type(item).__name__}: pass an evaluation name, record, report or metrics")

    def cross_validate(
        self, model: Any, data: Any, *, target: str | None = None, folds: int = 5, seed: int = 0
    ) -> dict[str, Any]:
        """k-fold cross-validation of a package's estimator (a fresh clone per fold).

        The packaged recipe is applied as fitted (it is not refitted per fold), so statistics the
        recipe learned from the full training data are shared by every fold.
        """
        from sklearn.base import clone

        from forgeml.evaluation._cv import cross_validate

        loaded, _, _ = resolve_model(self.ws, model)
        frame, _ = resolve_frame(self.ws, data)
        target = target or loaded.manifest.target
        if not target or target not in frame.columns:
            raise ValidationError(f"target column {target!r} is not in the data")
        X = loaded.prepare(frame)
        return cross_validate(clone(loaded.model), X, frame[target].to_numpy(), task=loaded.manifest.task, folds=folds, seed=seed)

    def model_card(
        self,
        model: Any,
        *,
        name: str | None = None,
        evaluation: Any | None = None,
        bias: Any | None = None,
        explanation: Any | None = None,
        model_ref: str | None = None,
        intended_use: str | None = None,
        limitations: str | None = None,
        owner: str | None = None,
    ) -> ResourceRecord:
        """Generate and store a model card (JSON, Markdown and HTML documents).

        ``evaluation``, ``bias`` and ``explanation`` are references to stored results
        (``evaluation/x:1``, ``bias-report/x:1``, ``explanation/x:1``) or their records.
        """
        from forgeml.clarify._service import BIAS_KIND, EXPLANATION_KIND

        loaded, artifact_ref, registry_ref = resolve_model(self.ws, model)
        model_ref = model_ref or registry_ref
        ev = self.get(evaluation) if evaluation is not None else None
        bi = get_record(self.ws, BIAS_KIND, bias) if bias is not None else None
        ex = get_record(self.ws, EXPLANATION_KIND, explanation) if explanation is not None else None
        lineage_root = ev.ref if ev else (artifact_ref or model_ref)
        lineage = self.ws.lineage.upstream(lineage_root).to_dict() if lineage_root else None
        card = build_card(
            manifest=loaded.manifest.to_dict(), model_ref=model_ref or artifact_ref,
            evaluation=self.report(ev) if ev else None, evaluation_ref=ev.ref if ev else None,
            bias=json.loads(read_document(self.ws, bi, "report")) if bi else None, bias_ref=bi.ref if bi else None,
            explanation=json.loads(read_document(self.ws, ex, "report")).get("explanations") if ex else None,
            explanation_ref=ex.ref if ex else None, lineage=lineage,
            intended_use=intended_use, limitations=limitations, owner=owner,
        )  # fmt: skip
        name = name or default_name(model_ref, ev.spec.get("dataset") if ev else None, fallback="model")
        return store_result(
            self.ws, CARD_KIND, name,
            spec={"model": artifact_ref, "model_ref": model_ref},
            data={"card": card},
            documents={"json": (json_bytes(card), "application/json"),
                       "markdown": (card_markdown(card).encode(), "text/markdown"),
                       "html": (card_html(card).encode(), "text/html")},
            inputs={"described": artifact_ref, "described-model": model_ref,
                    "summarized": ev.ref if ev else None, "summarized-bias": bi.ref if bi else None,
                    "summarized-explanation": ex.ref if ex else None},
        )  # fmt: skip

    def card_document(self, ref: str | ResourceRecord, fmt: str = "markdown") -> str:
        """A stored model card as ``json``, ``markdown`` or ``html`` text."""
        if fmt not in ("json", "markdown", "html"):
            raise ValidationError(f"unknown model card format {fmt!r} (json, markdown or html)")
        return read_document(self.ws, get_record(self.ws, CARD_KIND, ref), fmt).decode()


__all__ = ["CARD_KIND", "KIND", "EvaluationService"]
