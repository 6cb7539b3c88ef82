"""``ws.clarify``: bias reports (kind ``bias-report``) and explanations (kind ``explanation``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from forgeml.clarify._explain import explain
from forgeml.clarify._report import bias_report
from forgeml.errors import ValidationError
from forgeml.evaluation._html import render_report
from forgeml.evaluation._inputs import resolve_frame, resolve_model
from forgeml.evaluation._store import (
    default_name,
    get_record,
    json_bytes,
    read_document,
    store_result,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from forgeml.core.records import ResourceRecord
    from forgeml.core.workspace import Workspace
    from forgeml.registry.package import LoadedModel

BIAS_KIND = "bias-report"
EXPLANATION_KIND = "explanation"


def predicted_labels(model: LoadedModel, frame: pd.DataFrame, probability_threshold: float | None) -> np.ndarray:
    """The package's predicted labels; for binary models with a threshold, ``classes[1]`` when
    the positive-class probability is greater than it."""
    import numpy as np

    out = model.predict(frame)
    if "predicted_label" not in out:
        return out["prediction"].to_numpy()
    if probability_threshold is not None and "score" in out and model.manifest.classes and len(model.manifest.classes) == 2:
        neg, pos = model.manifest.classes
        return np.where(out["score"].to_numpy(float) > probability_threshold, pos, neg)
    return out["predicted_label"].to_numpy()


class ClarifyService:
    """Bias metrics and explanations of data and model packages, stored with lineage."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def bias(
        self,
        data: Any,
        *,
        label: str,
        facets: Sequence[Any],
        label_values_or_threshold: Any = None,
        model: Any = None,
        predicted_label: str | None = None,
        probability_threshold: float | None = None,
        group_variable: str | None = None,
        methods: str | Sequence[str] = "all",
        post_training_methods: str | Sequence[str] = "all",
        ft_features: Sequence[str] | None = None,
        dropna: bool = False,
        name: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> ResourceRecord:
        """Compute pre-training (and, with a model or predicted-label column, post-training) bias.

        Args:
            data: a frame, a dataset reference or a CSV/Parquet path.
            label: observed label column.
            facets: facet specs: ``"black=1"``, ``"age>40"``, ``"sex"`` (each value vs the rest) or dicts.
            label_values_or_threshold: positive label values or ``"> t"`` (default ``[1]``).
            model: a registry reference (``loans:2``), a package folder or a loaded package; its
                predictions give post-training metrics.
            predicted_label: an existing column of predicted labels instead of a model.
            probability_threshold: binary models: predicted positive when its probability > this.
            group_variable: column for CDDL / CDDPL.
            methods / post_training_methods: "all" or lists of metric names.
            ft_features: columns for FT's kNN (default: the numeric input columns of the model, or
                every numeric column without one, never the label, prediction, facets or group variable).
            dropna: drop rows with missing label/facet/prediction/group values instead of failing.

        Returns:
            The ``bias-report`` resource; ``artifacts["report"]`` is analysis.json.
        """
        frame, data_ref = resolve_frame(self.ws, data)
        loaded, model_ref = (None, None)
        ft_candidates: list[str] | None = None
        preds: Any = predicted_label
        if model is not None:
            if predicted_label is not None:
                raise ValidationError("give either a model or a predicted-label column, not both")
            loaded, artifact_ref, registry_ref = resolve_model(self.ws, model)
            model_ref = registry_ref or artifact_ref
            preds = predicted_labels(loaded, frame, probability_threshold)
            ft_candidates = list(loaded.manifest.feature_names)
        values = [1] if label_values_or_threshold is None else label_values_or_threshold
        if isinstance(values, str | int | float) and not (isinstance(values, str) and values.strip().startswith(">")):
            values = [values]
        analysis = bias_report(
            frame, label=label, label_values_or_threshold=values, facets=facets, predicted_label=preds,
            group_variable=group_variable, pre_training_methods=methods,
            post_training_methods=post_training_methods, ft_features=ft_features, dropna=dropna,
            ft_candidates=ft_candidates,
        )  # fmt: skip
        name = name or default_name(data_ref, fallback="bias")
        html = render_report(f"Bias report {name}", bias=analysis)
        metrics = {}
        for stage in ("pre_training_bias_metrics", "post_training_bias_metrics"):
            for facet, entries in analysis.get(stage, {}).get("facets", {}).items():
                for entry in entries:
                    for m in entry["metrics"]:
                        if isinstance(m["value"], int | float):
                            metrics[f"{facet}={entry['value_or_threshold']}/{m['name']}"] = m["value"]
        return store_result(
            self.ws, BIAS_KIND, name,
            spec={"dataset": data_ref, "model": model_ref, "label": label, "label_values_or_threshold": values,
                  "facets": [str(f) if not isinstance(f, dict) else f for f in facets], "group_variable": group_variable,
                  "probability_threshold": probability_threshold},
            data={"rows": len(frame), "stages": [s for s in ("pre_training_bias_metrics", "post_training_bias_metrics") if s in analysis],
                  "warnings": analysis.get("warnings", [])},
            documents={"report": (json_bytes(analysis), "application/json"), "html": (html.encode(), "text/html")},
            inputs={"analyzed": data_ref, "analyzed-model": model_ref},
            metrics=metrics, tags=tags,
        )  # fmt: skip

    def explain(
        self,
        model: Any,
        data: Any,
        *,
        name: str | None = None,
        model_ref: str | None = None,
        tags: dict[str, str] | None = None,
        **options: Any,
    ) -> ResourceRecord:
        """SHAP explanations (and partial dependence) of a package on rows of ``data``.

        ``options`` are those of :func:`forgeml.clarify.explain` (``method``, ``max_rows``,
        ``num_clusters``, ``num_samples``, ``agg_method``, ``use_logit``, ``seed``, ``save_local``,
        ``top_k_features``, ``pdp_features``, ``grid_resolution``).

        Returns:
            The ``explanation`` resource; ``artifacts["report"]`` holds ``{"version", "explanations"}``
            and ``artifacts["local"]`` the per-row values as CSV (Clarify's out.csv).
        """
        loaded, artifact_ref, registry_ref = resolve_model(self.ws, model)
        model_ref = model_ref or registry_ref
        frame, data_ref = resolve_frame(self.ws, data)
        result = explain(loaded, frame, **options)
        doc = {"version": "1.0", "explanations": result.analysis}
        name = name or default_name(model_ref, data_ref, fallback="explanation")
        documents = {"report": (json_bytes(doc), "application/json"),
                     "html": (render_report(f"Explanation {name}", explanations=result.analysis).encode(), "text/html")}  # fmt: skip
        if result.local is not None:
            documents["local"] = (result.local.to_csv(index=False).encode(), "text/csv")
        key = next(k for k in result.analysis if k.endswith("_shap"))
        first = next(iter(result.analysis[key].values()))
        return store_result(
            self.ws, EXPLANATION_KIND, name,
            spec={"model": artifact_ref, "model_ref": model_ref, "dataset": data_ref,
                  "options": {k: v for k, v in options.items() if k != "baseline"}},
            data={"method": result.analysis["method"], "rows_explained": result.analysis["rows_explained"],
                  "global_shap_values": first["global_shap_values"], "expected_value": first["expected_value"]},
            documents=documents,
            inputs={"explained": artifact_ref, "explained-model": model_ref, "explained-on": data_ref},
            tags=tags,
        )  # fmt: skip

    def analyze(self, data: Any, config: dict[str, Any], *, model: Any = None, name: str | None = None) -> dict[str, Any]:
        """Run a SageMaker Clarify ``analysis_config.json`` (see ``forgeml.clarify._config``).

        Stores a bias report and/or an explanation, and returns the combined analysis.json
        (``version``, ``pre_training_bias_metrics``, ``post_training_bias_metrics``,
        ``explanations``) with ``"records"``: the references of what was stored.

        Raises:
            ValidationError: a bad config, or post-training bias / SHAP / PDP without a model.
        """
        import pandas as pd

        from forgeml.clarify._config import parse_config

        plan = parse_config(config)
        if plan["bias"] is not None:
            from forgeml.clarify._config import as_forgeml_spec

            frame, _ = resolve_frame(self.ws, data)
            bias_plan = plan["bias"]
            facets = []
            for facet in bias_plan["facets"]:
                name_ = facet.get("name_or_index") if isinstance(facet, dict) else None
                if name_ in frame.columns and facet.get("value_or_threshold") is not None:
                    facet = {"name_or_index": name_, "value_or_threshold": as_forgeml_spec(frame[name_], facet["value_or_threshold"])}
                facets.append(facet)
            bias_plan["facets"] = facets
            if bias_plan["label"] in frame.columns:
                bias_plan["label_values_or_threshold"] = as_forgeml_spec(frame[bias_plan["label"]], bias_plan["label_values_or_threshold"])
        out: dict[str, Any] = {"version": "1.0"}
        records: list[str] = []
        bias_plan = plan["bias"]
        if bias_plan is not None:
            if bias_plan.pop("post") and model is None:
                raise ValidationError("post_training_bias needs a model")
            rec = self.bias(data, model=model if bias_plan["post_training_methods"] is not None else None,
                            name=name, **bias_plan)  # fmt: skip
            records.append(rec.ref)
            out.update({k: v for k, v in self.report(rec).items() if k != "version"})
        opts = plan["explain"]
        if opts is not None:
            if model is None:
                raise ValidationError("shap and pdp need a model")
            if isinstance(opts.get("baseline"), list):
                from forgeml.evaluation._inputs import resolve_model

                loaded, _, _ = resolve_model(self.ws, model)
                opts["baseline"] = pd.DataFrame(opts["baseline"], columns=loaded.manifest.feature_names)
            rec = self.explain(model, data, name=name, **opts)
            records.append(rec.ref)
            out["explanations"] = self.report(rec, kind=EXPLANATION_KIND)["explanations"]
        out["records"] = records
        return out

    def get(self, ref: str | ResourceRecord, kind: str = BIAS_KIND) -> ResourceRecord:
        """A bias report (or, with ``kind="explanation"``, an explanation)."""
        return get_record(self.ws, kind, ref)

    def list(self, kind: str = BIAS_KIND, name: str | None = None) -> list[ResourceRecord]:
        """Bias reports or explanations, newest first."""
        if kind not in (BIAS_KIND, EXPLANATION_KIND):
            raise ValidationError(f"unknown kind {kind!r} ({BIAS_KIND} or {EXPLANATION_KIND})")
        from forgeml.core.refs import name_of

        return self.ws.metadata.list_resources(kind, name=name_of(name, kind) if name else None)

    def report(self, ref: str | ResourceRecord, kind: str = BIAS_KIND) -> dict[str, Any]:
        """The stored JSON document (analysis.json for bias reports)."""
        return json.loads(read_document(self.ws, self.get(ref, kind), "report"))

    def html(self, ref: str | ResourceRecord, kind: str = BIAS_KIND) -> str:
        return read_document(self.ws, self.get(ref, kind), "html").decode()

    def local_values(self, ref: str | ResourceRecord) -> pd.DataFrame:
        """Per-row SHAP values of a stored explanation."""
        import io

        import pandas as pd

        return pd.read_csv(io.BytesIO(read_document(self.ws, self.get(ref, EXPLANATION_KIND), "local")))


__all__ = ["BIAS_KIND", "EXPLANATION_KIND", "ClarifyService", "predicted_labels"]
