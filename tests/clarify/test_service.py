"""ws.clarify end to end: stored bias reports and explanations with lineage."""

from __future__ import annotations

from pathlib import Path

import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import NotFoundError, ValidationError
from tests.evaluation.helpers import loans_frame, parse_html, save_binary


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_binary(tmp_path_factory.mktemp("pkg") / "model", loans_frame(400))


def test_bias_report_with_model_predictions(ws: Workspace, model_dir: Path) -> None:
    from forgeml.clarify import bias_report
    from forgeml.registry.package import load_model

    frame = loans_frame(300, seed=1)
    ds = ws.datasets.create("loans", frame)
    rec = ws.clarify.bias("loans", label="approve", facets=["black=1"], model=model_dir, group_variable="region")
    assert rec.kind == "bias-report" and rec.name == "loans"
    analysis = ws.clarify.report(rec)
    # the stored report is what bias_report gives on the package's own predicted labels and inputs
    preds = load_model(model_dir).predict(frame)["predicted_label"].to_numpy()
    direct = bias_report(frame, label="approve", label_values_or_threshold=[1], facets=["black=1"], predicted_label=preds,
                         group_variable="region", ft_features=["income", "debt"])  # fmt: skip
    assert analysis["pre_training_bias_metrics"] == direct["pre_training_bias_metrics"]
    assert analysis["post_training_bias_metrics"] == direct["post_training_bias_metrics"]
    post = {m["name"]: m for m in analysis["post_training_bias_metrics"]["facets"]["black"][0]["metrics"]}
    assert all(post[n]["value"] is not None for n in ("FT", "CDDPL", "DI", "TE"))
    sources = {e.src: e.relation for e in ws.metadata.list_edges(dst=rec.ref)}
    assert sources[ds.ref] == "analyzed" and sources[rec.spec["model"]] == "analyzed-model"
    assert ws.metadata.latest_metrics([rec.ref])[rec.ref]["black=1/CI"] == pytest.approx(
        next(m["value"] for m in analysis["pre_training_bias_metrics"]["facets"]["black"][0]["metrics"] if m["name"] == "CI"))
    page = parse_html(ws.clarify.html(rec))
    assert page.svg_classes.count("bias") == 2


def test_bias_probability_threshold_changes_predictions(ws: Workspace, model_dir: Path) -> None:
    frame = loans_frame(200, seed=2)
    strict = ws.clarify.report(ws.clarify.bias(frame, label="approve", facets=["black=1"], model=model_dir, probability_threshold=0.99, post_training_methods=["DPPL"], methods=["CI"]))
    loose = ws.clarify.report(ws.clarify.bias(frame, label="approve", facets=["black=1"], model=model_dir, probability_threshold=0.01, post_training_methods=["DPPL"], methods=["CI"]))
    assert strict["post_training_bias_metrics"] != loose["post_training_bias_metrics"]


def test_bias_bad_input(ws: Workspace, model_dir: Path) -> None:
    frame = loans_frame(50)
    with pytest.raises(ValidationError, match="facet column 'race'"):
        ws.clarify.bias(frame, label="approve", facets=["race=1"])
    with pytest.raises(ValidationError, match="either a model or a predicted-label column"):
        ws.clarify.bias(frame, label="approve", facets=["black=1"], model=model_dir, predicted_label="approve")
    with pytest.raises(ValidationError, match="invalid bias-report name"):
        ws.clarify.bias(frame, label="approve", facets=["black=1"], name="bad name!")
    assert ws.clarify.list() == []
    with pytest.raises(NotFoundError):
        ws.clarify.get("missing")


def test_explanation_resource(ws: Workspace, model_dir: Path) -> None:
    ws.datasets.create("loans", loans_frame(200, seed=3))
    rec = ws.clarify.explain(model_dir, "loans", max_rows=20, top_k_features=1, grid_resolution=4)
    assert rec.kind == "explanation" and rec.data["method"] == "tree"
    doc = ws.clarify.report(rec, kind="explanation")
    assert doc["version"] == "1.0" and "tree_shap" in doc["explanations"]
    local = ws.clarify.local_values(rec)
    assert local.shape == (20, 3)
    assert rec.data["global_shap_values"]["income"] == pytest.approx(local["income"].abs().mean())
    page = parse_html(ws.clarify.html(rec, kind="explanation"))
    assert "shap" in page.svg_classes and "pdp" in page.svg_classes
    assert [r.ref for r in ws.clarify.list("explanation")] == [rec.ref]
    with pytest.raises(ValidationError, match="unknown kind"):
        ws.clarify.list("nope")
