"""Neural and missing built-ins as data: PCA, factorization machines (ranking metrics), the image
classifier (sklearn's bundled digits); each trains, evaluates against an independent reference,
packages, and (torch ones) compiles to ONNX."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch  # noqa: F401  (the torch extra, which make test installs: missing it fails)
from sklearn.decomposition import PCA
from sklearn.metrics import ndcg_score

from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from forgeml.registry import load_model
from forgeml.training._ranking import ranking_metrics
from tests.training.conftest import make_frame


def _last(ws: Workspace, job: str, key: str) -> float:
    return ws.training.metrics(job, key)[-1].value


def test_ranking_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(8), 12)
    relevance = np.zeros(96)
    for g in range(8):  # one or two relevant items per user, graded
        relevance[g * 12 + rng.choice(12, size=1 + g % 2, replace=False)] = 1 + g % 3
    scores = rng.normal(size=96)
    got = ranking_metrics(groups, relevance, scores, k=5)
    ref = np.mean([ndcg_score([relevance[groups == g]], [scores[groups == g]], k=5) for g in range(8)])
    assert got["ndcg_at_k"] == pytest.approx(ref, abs=1e-12)
    hits = np.mean([(relevance[groups == g][np.argsort(-scores[groups == g])][:5] > 0).any() for g in range(8)])
    assert got["hit_rate_at_k"] == pytest.approx(hits) and got["groups"] == 8


def test_pca_projects_like_sklearn_and_packages(ws: Workspace) -> None:
    frame = make_frame(300).drop(columns=["y"])
    ws.datasets.create("p-tr", frame.iloc[:200].reset_index(drop=True))
    ws.datasets.create("p-va", frame.iloc[200:].reset_index(drop=True))
    job = ws.training.create("pca-1", algorithm="pca", channels={"train": "dataset/p-tr", "validation": "dataset/p-va"},
                             hyperparameters={"num_components": 2}, wait=True)  # fmt: skip
    assert job.status == "Completed", job.failure_reason
    ref = PCA(n_components=2, svd_solver="full").fit(frame.iloc[:200].to_numpy())
    assert _last(ws, "pca-1", "train:explained_variance_ratio") == pytest.approx(ref.explained_variance_ratio_.sum())
    va = frame.iloc[200:].to_numpy()
    back = ref.inverse_transform(ref.transform(va))
    assert _last(ws, "pca-1", "validation:reconstruction_mse") == pytest.approx(np.mean((va - back) ** 2))
    model = load_model(ws.training.model_dir("pca-1"))
    assert model.manifest.task == "projection"
    assert [c["name"] for c in model.manifest.outputs()] == ["projection_0", "projection_1"]
    out = model.predict(frame.iloc[200:])
    # component signs are arbitrary: compare up to sign
    for i in range(2):
        a, b = out[f"projection_{i}"].to_numpy(), ref.transform(va)[:, i]
        assert min(np.abs(a - b).max(), np.abs(a + b).max()) < 1e-8
    with pytest.raises(ValidationError, match="num_components"):
        ws.training.create("pca-bad", algorithm="pca", channels={"train": "dataset/p-tr"}, hyperparameters={"num_components": 0})


def _interactions(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Implicit feedback from latent tastes: 60 users x 40 items; validation holds, per user, one
    unseen liked item and 19 unseen items the user does not like (the usual leave-one-out list)."""
    rng = np.random.default_rng(seed)
    users, items = rng.normal(size=(60, 3)), rng.normal(size=(40, 3))
    affinity = users @ items.T
    liked = affinity > np.quantile(affinity, 0.7, axis=1, keepdims=True)
    train, valid = [], []
    for u in range(60):
        pos, neg = rng.permutation(np.flatnonzero(liked[u])), rng.permutation(np.flatnonzero(~liked[u]))
        valid += [(u, pos[0], 1)] + [(u, i, 0) for i in neg[:19]]
        train += [(u, i, 1) for i in pos[1:]] + [(u, i, 0) for i in neg[19:]]
    cols = ["user", "item", "clicked"]
    return pd.DataFrame(train, columns=cols), pd.DataFrame(valid, columns=cols)


def test_factorization_machines_rank_held_out_items(ws: Workspace) -> None:
    train, valid = _interactions()
    ws.datasets.create("fm-tr", train)
    ws.datasets.create("fm-va", valid)
    job = ws.training.create(
        "fm-1", algorithm="factorization-machines", channels={"train": "dataset/fm-tr", "validation": "dataset/fm-va"},
        target="clicked", hyperparameters={"num_factors": 8, "epochs": 12, "mini_batch_size": 64, "learning_rate": 0.03},
        wait=True,
    )  # fmt: skip
    assert job.status == "Completed", job.failure_reason
    logloss = [m.value for m in ws.training.metrics("fm-1", "validation:logloss")]
    ndcg = [m.value for m in ws.training.metrics("fm-1", "validation:ndcg_at_k")]
    assert len(ndcg) == len(logloss) == 12
    best = int(np.argmin(logloss))  # the package keeps the best epoch's weights
    model = load_model(ws.training.model_dir("fm-1"))
    assert model.manifest.task == "binary" and model.manifest.feature_names == ["user", "item"]
    scores = model.predict(valid)["score"].to_numpy()
    ref = np.mean([ndcg_score([valid["clicked"][valid.user == u]], [scores[valid.user == u]], k=10) for u in range(60)])
    assert ndcg[best] == pytest.approx(ref, abs=1e-5)
    hit = _last(ws, "fm-1", "validation:hit_rate_at_k")
    assert hit > 0.8, hit  # random ranking of 1 liked among 20 gives 0.5
    # a user never seen in training scores through the unknown slot instead of failing
    assert len(model.predict(pd.DataFrame({"user": [999], "item": [3]}))) == 1
    ws.registry.register("fm", training_job="fm-1")
    report = ws.registry.compile("fm", 1, holdout="dataset/fm-va").data["compilation"]
    assert report["max_abs_deviation"] < 1e-4
    ws.datasets.create("fm-bad", train.assign(user=train.user - 0.5))
    ws.training.create("fm-2", algorithm="factorization-machines", channels={"train": "dataset/fm-bad"}, target="clicked")
    bad = ws.training.wait("fm-2", raise_on_failure=False)
    assert bad.status == "Failed" and "non-negative integer ids; column 'user'" in bad.failure_reason


def test_image_classifier_learns_digits_from_scratch_and_compiles(ws: Workspace) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits(as_frame=True).frame  # bundled with scikit-learn: no download
    ws.datasets.create("dg-tr", digits.iloc[:700].reset_index(drop=True))
    ws.datasets.create("dg-va", digits.iloc[700:1000].reset_index(drop=True))
    job = ws.training.create(
        "cnn-1", algorithm="image-classification", channels={"train": "dataset/dg-tr", "validation": "dataset/dg-va"},
        target="target", hyperparameters={"image_shape": "1,8,8", "num_filters": 8, "epochs": 6, "learning_rate": 0.01},
        wait=True,
    )  # fmt: skip
    assert job.status == "Completed", job.failure_reason
    model = load_model(ws.training.model_dir("cnn-1"))
    assert model.manifest.task == "multiclass" and model.manifest.classes == list(range(10))
    va = digits.iloc[700:1000]
    accuracy = float(np.mean(model.predict(va)["predicted_label"].to_numpy() == va["target"].to_numpy()))
    assert accuracy > 0.85
    assert max(m.value for m in ws.training.metrics("cnn-1", "validation:accuracy")) == pytest.approx(accuracy)
    ws.registry.register("cnn", training_job="cnn-1")
    report = ws.registry.compile("cnn", 1, holdout="dataset/dg-va").data["compilation"]
    assert report["max_abs_deviation"] < 1e-4 and report["label_agreement"] == 1.0
    # static int8 (weights and activations, calibrated on the holdout) beside the dynamic one
    static = ws.registry.compile("cnn", 1, holdout="dataset/dg-va", quantize="static").data["compilation"]
    assert static["quantization"]["mode"] == "static" and static["quantization"]["calibration_rows"] == 300
    assert static["size_bytes"]["after"] < static["size_bytes"]["onnx"] and static["accuracy"]["loss"] <= 0.02
    onnx_static = ws.registry.load("cnn", 3, trusted=False)
    labels = onnx_static.predict(va)["predicted_label"].to_numpy()
    assert float(np.mean(labels == va["target"].to_numpy())) == pytest.approx(static["accuracy"]["after"])
    # one outlier row stretches the calibrated activation ranges until int8 cannot tell images apart
    bad = pd.concat([va.iloc[:1].assign(**{c: 1e6 for c in va.columns if c.startswith("pixel")}), va])
    before = len(ws.registry.versions("cnn"))
    with pytest.raises(ValidationError, match=r"static quantized model's accuracy goes from .* nothing was registered"):
        ws.registry.compile("cnn", 1, holdout=bad, quantize="static")
    with pytest.raises(ValidationError, match=r"static quantization: the held-out rows need the target column 'target'"):
        ws.registry.compile("cnn", 1, holdout=va.drop(columns=["target"]), quantize="static")
    with pytest.raises(ValidationError, match=r"quantize must be false, true / 'dynamic' or 'static' \(got 'int4'\)"):
        ws.registry.compile("cnn", 1, holdout=va, quantize="int4")
    assert len(ws.registry.versions("cnn")) == before
    with pytest.raises(ValidationError, match="image_shape '1,8,9' holds 72 pixels but the train channel has 64"):
        ws.training.create("cnn-2", algorithm="image-classification", channels={"train": "dataset/dg-tr"},
                           target="target", hyperparameters={"image_shape": "1,8,9"}, wait=True)  # fmt: skip


def _documents(n: int, seed: int) -> pd.DataFrame:
    """Generated reviews: the label lives in topic words and in word pairs ("not good")."""
    rng = np.random.default_rng(seed)
    topics = {
        "sports": ["match", "goal", "team", "coach", "league", "score", "player", "season"],
        "finance": ["market", "stock", "bond", "price", "bank", "rate", "profit", "fund"],
        "weather": ["rain", "storm", "wind", "cloud", "sunny", "forecast", "snow", "cold"],
    }
    filler = ["the", "a", "of", "and", "to", "in", "is", "it", "that", "was", "for", "on", "with", "as", "at", "by", "this", "day", "week", "people"]
    rows = []
    for _ in range(n):
        label = str(rng.choice(list(topics)))
        k = int(rng.integers(6, 14))
        toks = [str(rng.choice(topics[label])) if rng.random() < 0.35 else str(rng.choice(filler)) for _ in range(k)]
        rows.append((" ".join(toks).capitalize() + ".", label))
    return pd.DataFrame(rows, columns=["text", "label"])


def test_blazingtext_classifies_generated_documents(ws: Workspace) -> None:
    from sklearn.metrics import log_loss

    ws.datasets.create("tx-tr", _documents(400, 0))
    va = _documents(150, 1)
    ws.datasets.create("tx-va", va)
    job = ws.training.create(
        "bt-1", algorithm="blazingtext", channels={"train": "dataset/tx-tr", "validation": "dataset/tx-va"},
        target="label", hyperparameters={"epochs": 5, "vector_dim": 16, "buckets": 2000, "word_ngrams": 2, "min_count": 2},
        wait=True,
    )  # fmt: skip
    assert job.status == "Completed", job.failure_reason
    model = load_model(ws.training.model_dir("bt-1"))
    assert model.manifest.task == "multiclass" and model.manifest.classes == ["finance", "sports", "weather"]
    assert model.manifest.feature_names == ["text"]
    out = model.predict(va)
    accuracy = float(np.mean(out["predicted_label"].to_numpy() == va["label"].to_numpy()))
    assert accuracy > 0.85
    assert _last(ws, "bt-1", "validation:accuracy") == pytest.approx(accuracy)
    proba = model.model.predict_proba(va[["text"]])
    labels = va["label"].map({"finance": 0, "sports": 1, "weather": 2})
    assert _last(ws, "bt-1", "validation:logloss") == pytest.approx(log_loss(labels, proba, labels=[0, 1, 2]))
    # an empty or wordless document gets the prior (bias only) instead of failing
    assert len(model.predict(pd.DataFrame({"text": ["", None, "!!!"]}))) == 3
    # registered and served on an endpoint, JSON rows in
    import orjson

    ws.registry.register("bt", training_job="bt-1")
    ws.endpoints.create("bt-ep", {"variants": [{"model": "bt:1"}]})
    try:
        rows = va[["text"]].iloc[:4].to_dict(orient="records")
        got = orjson.loads(ws.endpoints.invoke("bt-ep", orjson.dumps(rows), content_type="application/json").body)
        assert [p["predicted_label"] for p in got["predictions"]] == out["predicted_label"].iloc[:4].tolist()
    finally:
        ws.endpoints.delete("bt-ep")
    with pytest.raises(ValidationError, match=r"blazingtext reads one text column: pass features=\['<column>'\] \(got 2"):
        ws.datasets.create("tx-2", _documents(20, 2).assign(extra=1.0))
        ws.training.create("bt-2", algorithm="blazingtext", channels={"train": "dataset/tx-2"}, target="label")


def test_a_resumed_torch_builtin_equals_an_uninterrupted_one(ws: Workspace, datasets: dict[str, str]) -> None:
    from tests.training.test_resume_builtin import _run

    def plan(name: str, epochs: int, checkpoint: bool) -> dict:
        return ws.training.plan(
            name, algorithm="image-classification", channels=datasets, target="y", cpus=1,
            hyperparameters={"image_shape": "1,1,5", "num_filters": 4, "epochs": epochs},
            checkpoint=checkpoint, checkpoint_interval_seconds=1e-9,
        )  # fmt: skip

    _run(ws, "first", plan("first", 3, True))  # checkpoints after every epoch: the last after epoch 3
    _run(ws, "resumed", plan("resumed", 5, True), restore_from="first")
    _run(ws, "straight", plan("straight", 5, False))
    assert ws.training.record("resumed").data["resumed_from_iteration"] == 3
    assert [m.step for m in ws.training.metrics("resumed", "validation:logloss")] == [3, 4]  # continued, not from 0
    straight = [m.value for m in ws.training.metrics("straight", "validation:logloss")]
    assert [m.value for m in ws.training.metrics("resumed", "validation:logloss")] == pytest.approx(straight[3:], rel=1e-6)
    valid = ws.datasets.read("va")
    a = load_model(ws.training.model_dir("resumed")).predict(valid)["score"]
    b = load_model(ws.training.model_dir("straight")).predict(valid)["score"]
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_factorization_machines_are_tunable_on_a_ranking_metric(ws: Workspace) -> None:
    train, valid = _interactions(seed=1)
    ws.datasets.create("fmt-tr", train)
    ws.datasets.create("fmt-va", valid)
    ws.tuning.create(
        "fm-tune", strategy="Random", objective={"metric": "validation:ndcg_at_k", "type": "Maximize"},
        parameter_ranges={"num_factors": {"type": "Integer", "min": 2, "max": 8}}, max_jobs=2, max_parallel_jobs=2,
        static_hyperparameters={"epochs": 3, "mini_batch_size": 128},
        training={"algorithm": "factorization-machines", "channels": {"train": "dataset/fmt-tr", "validation": "dataset/fmt-va"}, "target": "clicked"},
    )  # fmt: skip
    result = ws.tuning.wait("fm-tune", timeout=300)
    assert result["status"] == "Completed" and len(result["trials"]) == 2
    for t in result["trials"]:
        series = ws.training.metrics(t["training_job"], "validation:ndcg_at_k")
        assert t["objective"] == max(series, key=lambda m: m.step).value
    assert result["best_training_job"] == max(result["trials"], key=lambda t: t["objective"])["training_job"]
    with pytest.raises(ValidationError, match="parameter range 'num_factors'"):
        ws.tuning.create(
            "fm-bad", objective={"metric": "validation:ndcg_at_k", "type": "Maximize"}, max_jobs=2,
            parameter_ranges={"num_factors": {"type": "Integer", "min": 0, "max": 8}},
            training={"algorithm": "factorization-machines", "channels": {"train": "dataset/fmt-tr"}, "target": "clicked"},
        )  # fmt: skip
