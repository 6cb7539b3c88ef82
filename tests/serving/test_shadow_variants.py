"""Shadow variants and latency fallback on real endpoint servers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from forgeml.registry.package import save_model
from tests.serving.conftest import INPUTS, training_frame

CSV = "text/csv"
GOOD = b"0.5,3,red\n"
PURPLE = b"0.5,3,purple\n"  # a colour the strict model never saw: it raises (424)


@pytest.fixture(autouse=True)
def _no_server_left(ws: Workspace) -> Iterator[None]:
    yield
    for record in ws.endpoints.list():
        ws.endpoints.delete(record.name)


@pytest.fixture(scope="module")
def extra(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A strict model (unknown colours raise) and a slow one (a 1,500-tree forest)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    root = tmp_path_factory.mktemp("extra")
    frame, y = training_frame()
    pre = ColumnTransformer([("num", "passthrough", ["x1", "x2"]), ("cat", OneHotEncoder(handle_unknown="error"), ["color"])])
    strict = make_pipeline(pre, LogisticRegression()).fit(frame, y)
    save_model(strict, root / "strict", task="binary", inputs=INPUTS, target="y", classes=[0, 1])
    num = ColumnTransformer([("num", "passthrough", ["x1", "x2"])])
    slow = make_pipeline(num, RandomForestClassifier(n_estimators=1500, max_depth=2, random_state=0)).fit(frame, y)
    save_model(slow, root / "slow", task="binary", inputs=INPUTS, target="y", classes=[0, 1])
    return {"strict": root / "strict", "slow": root / "slow"}


def _pairs(ws: Workspace, endpoint: str, variant: str, n: int) -> list[dict]:
    folder = ws.home / "endpoints" / endpoint / "shadow" / variant
    deadline = time.monotonic() + 20
    lines: list[dict] = []
    while time.monotonic() < deadline:
        lines = [json.loads(line) for f in sorted(folder.glob("pairs-*.jsonl")) for line in f.read_text().splitlines()]
        if len(lines) >= n:
            break
        time.sleep(0.1)
    return lines


def test_shadow_gets_copies_and_callers_get_only_production(ws: Workspace, packages: dict[str, Path], tmp_path: Path) -> None:
    cfg = {
        "variants": [{"name": "AllTraffic", "model": str(packages["logistic"])}],
        "shadow_variants": [{"name": "shadow", "model": str(packages["recipe"]), "sampling_percentage": 100}],
        "data_capture": {"destination": str(tmp_path / "cap")},
    }
    ws.endpoints.create("sh", cfg)
    for _ in range(5):
        out = ws.endpoints.invoke("sh", GOOD, content_type=CSV)
        assert out.variant == "AllTraffic"
    pairs = _pairs(ws, "sh", "shadow", 5)
    assert len(pairs) == 5
    p = pairs[0]
    assert p["source_variant"] == "AllTraffic" and p["shadow_variant"] == "shadow"
    assert p["production"]["status"] == 200 and p["shadow"]["status"] == 200
    assert p["production"]["predictions"] and p["shadow"]["predictions"]
    assert p["shadow"]["latency_ms"] > 0
    # off the caller's path: every copy started after its caller's response had been sent
    assert all(q["shadow"]["started_at"] >= q["production"]["sent_at"] for q in pairs)
    # the shadow's answers are captured under its own folder, marked as shadow
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not list((tmp_path / "cap" / "sh" / "shadow").rglob("*.jsonl")):
        time.sleep(0.1)
    shadow_lines = [json.loads(line) for f in (tmp_path / "cap" / "sh" / "shadow").rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(shadow_lines) == 5
    assert shadow_lines[0]["eventMetadata"]["shadow"] is True
    assert shadow_lines[0]["eventMetadata"]["productionVariant"] == "AllTraffic"
    prod_lines = [json.loads(line) for f in (tmp_path / "cap" / "sh" / "AllTraffic").rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(prod_lines) == 5 and "shadow" not in prod_lines[0]["eventMetadata"]
    # a variant the caller could target? no: shadows are not production variants
    with pytest.raises(ValidationError, match="target variant 'shadow' does not exist"):
        ws.endpoints.invoke("sh", GOOD, content_type=CSV, target_variant="shadow")
    # the weights API does not know the shadow either
    with pytest.raises(ValidationError, match="no variant"):
        ws.endpoints.update_weights("sh", {"shadow": 1.0})


def test_sampling_zero_copies_nothing_and_bad_shadow_configs(ws: Workspace, packages: dict[str, Path]) -> None:
    cfg = {
        "variants": [{"name": "AllTraffic", "model": str(packages["logistic"])}],
        "shadow_variants": [{"name": "shadow", "model": str(packages["recipe"]), "sampling_percentage": 0}],
    }
    ws.endpoints.create("s0", cfg)
    for _ in range(3):
        ws.endpoints.invoke("s0", GOOD, content_type=CSV)
    time.sleep(0.5)
    assert not list((ws.home / "endpoints" / "s0" / "shadow").rglob("*.jsonl"))
    bad = [
        ({"name": "AllTraffic", "model": "x"}, "already used"),
        ({"name": "s", "model": "x", "source_variant": "nope"}, "source_variant 'nope' does not exist"),
        ({"name": "s", "model": "x", "sampling_percentage": 101}, "sampling_percentage"),
        ({"name": "s", "mode": "MultiModel", "model_dir": "x"}, "must be SingleModel"),
    ]
    for shadow, needle in bad:
        with pytest.raises(ValidationError, match=needle):
            ws.endpoints.create("bad", {"variants": cfg["variants"], "shadow_variants": [shadow]})


def test_fallback_on_error_and_latency(ws: Workspace, packages: dict[str, Path], extra: dict[str, Path]) -> None:
    cfg = {
        "variants": [
            {"name": "strict", "model": str(extra["strict"]), "weight": 1,
             "fallback": {"variant": "safe", "latency_ms": 60_000}},
            {"name": "slow", "model": str(extra["slow"]), "weight": 0,
             "fallback": {"variant": "safe", "latency_ms": 2, "on_error": False}},
            {"name": "safe", "model": str(packages["logistic"]), "weight": 0},
        ],
        "batching": {"enabled": False},
    }  # fmt: skip
    ws.endpoints.create("fb", cfg)
    ok = ws.endpoints.invoke("fb", GOOD, content_type=CSV)
    assert ok.variant == "strict" and ok.fallback_from is None
    out = ws.endpoints.invoke("fb", PURPLE, content_type=CSV)  # strict raises: safe answers
    assert out.variant == "safe"
    assert (out.fallback_from, out.fallback_reason) == ("strict", "error")
    slow = ws.endpoints.invoke("fb", GOOD, content_type=CSV, target_variant="slow")  # 1,500 trees: far past 2 ms
    assert (slow.variant, slow.fallback_from, slow.fallback_reason) == ("safe", "slow", "latency")
    with pytest.raises(ValidationError):  # an input error is the caller's: no fallback
        ws.endpoints.invoke("fb", b"1,2\n", content_type=CSV)
    import httpx

    text = httpx.get(ws.endpoints.get("fb").data["url"] + "/metrics").text
    assert 'forgeml_endpoint_fallbacks_total{endpoint="fb",fallback="safe",reason="error",variant="strict"} 1.0' in text
    assert 'forgeml_endpoint_fallbacks_total{endpoint="fb",fallback="safe",reason="latency",variant="slow"} 1.0' in text


def test_bad_fallback_configs(ws: Workspace, packages: dict[str, Path]) -> None:
    model = str(packages["logistic"])
    for fallback, needle in [
        ({"variant": "a", "latency_ms": 5}, "names the variant itself"),
        ({"variant": "zz", "latency_ms": 5}, "fallback variant 'zz' does not exist"),
        ({"variant": "b", "latency_ms": 0}, "latency_ms"),
        ({"variant": "m", "latency_ms": 5}, "fallback variant 'm' must be SingleModel"),
    ]:
        with pytest.raises(ValidationError, match=needle):
            ws.endpoints.create("bf", {"variants": [{"name": "a", "model": model, "fallback": fallback}, {"name": "b", "model": model},
                                                    {"name": "m", "mode": "MultiModel", "model_dir": str(packages["logistic"])}]})

