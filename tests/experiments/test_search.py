"""Searching runs with filter expressions, on SQLite and the real PostgreSQL server."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgeml.core.workspace import Workspace
from forgeml.errors import ValidationError
from forgeml.experiments import parse_filter
from forgeml.settings import load_settings
from forgeml.testing.services import fresh_postgres_database

RUNS = [
    {"name": "a", "params": {"max_depth": 3, "booster": "gbtree"}, "metrics": {"validation:auc": 0.85, "train:logloss": 0.30}, "tags": {"team": "risk"}},
    {"name": "b", "params": {"max_depth": 3, "booster": "dart"}, "metrics": {"validation:auc": 0.78, "train:logloss": 0.20}},
    {"name": "c", "params": {"max_depth": 6, "booster": "gbtree"}, "metrics": {"validation:auc": 0.91}, "tags": {"team": "growth"}},
    {"name": "d", "params": {"max_depth": "3.0", "eta": 0.1}, "metrics": {"train:logloss": 0.50}, "status": "Failed"},
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def filled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    home = tmp_path_factory.mktemp(f"search-{request.param}")
    if request.param == "sqlite":
        ws = Workspace(load_settings(home=str(home)), reconcile=False)
        yield _fill(ws)
        ws.close()
    else:
        with fresh_postgres_database() as url:
            ws = Workspace(load_settings(home=str(home), database_url=url), reconcile=False)
            yield _fill(ws)
            ws.close()


def _fill(ws: Workspace) -> Workspace:
    ws.experiments.import_runs("hand", RUNS)
    rng = random.Random(7)
    ws.experiments.import_runs(
        "random",
        [
            {
                "name": f"r{i}",
                "params": {"depth": rng.randint(1, 5), "kind": rng.choice(["x", "y"])},
                "metrics": {"auc": round(rng.random(), 2)} if rng.random() < 0.9 else {},
                "tags": {"t": rng.choice(["p", "q"])},
            }
            for i in range(60)
        ],
    )
    return ws


def _names(ws: Workspace, expr: str, **kw) -> list[str]:
    return sorted(r.name for r in ws.experiments.search_runs(expr, experiments=["hand"], **kw))


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("metrics.validation:auc > 0.8", ["a", "c"]),
        ("metrics.validation:auc > 0.8 and params.max_depth = 3", ["a"]),
        ("params.max_depth = 3", ["a", "b", "d"]),  # numeric: '3.0' reads as 3
        ("params.max_depth = '3'", ["a", "b"]),  # text
        ("params.booster != 'dart'", ["a", "c"]),  # runs without the param never match
        ("metrics.train:logloss <= 0.3", ["a", "b"]),
        ("metrics.`validation:auc` >= 0.78 AND metrics.train:logloss < 0.25", ["b"]),
        ("tags.team = risk", ["a"]),
        ("tags.team like 'R%'", ["a"]),
        ("status = Failed", ["d"]),
        ("name like '_'", ["a", "b", "c", "d"]),
        ("params.eta >= 1e-2", ["d"]),
        ("", ["a", "b", "c", "d"]),
    ],
)
def test_hand_computed_filters(filled: Workspace, expr: str, expected: list[str]) -> None:
    assert _names(filled, expr) == expected


def test_order_by_metric_puts_runs_without_it_last(filled: Workspace) -> None:
    runs = filled.experiments.search_runs(experiments=["hand"], order_by="metrics.validation:auc desc")
    assert [r.name for r in runs] == ["c", "a", "b", "d"]
    runs = filled.experiments.search_runs(experiments=["hand"], order_by=["params.max_depth asc", "name desc"], max_results=2)
    assert [r.name for r in runs] == ["d", "b"]


def test_frame_and_compare(filled: Workspace) -> None:
    frame = filled.experiments.search_frame("params.booster = gbtree", experiments=["hand"], order_by="name")
    assert list(frame["name"]) == ["a", "c"]
    assert frame["params.max_depth"].tolist() == [3, 6]
    assert frame["metrics.validation:auc"].tolist() == [0.85, 0.91]
    cmp = filled.experiments.compare(["hand/a", "hand/c"])
    assert cmp["differing_params"] == ["max_depth"]
    assert cmp["metrics"]["validation:auc"] == {"hand/a": 0.85, "hand/c": 0.91}


FIELDS = st.sampled_from(["metrics.auc", "params.depth", "params.kind", "tags.t"])
OPS = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])


@st.composite
def clauses(draw: st.DrawFn) -> str:
    field = draw(FIELDS)
    op = draw(OPS)
    if field == "metrics.auc":
        value = str(draw(st.integers(0, 100)) / 100)
    elif field == "params.depth":
        value = str(draw(st.integers(0, 6)))
    else:
        value = repr(draw(st.sampled_from(["x", "y", "p", "q"])))
    return f"{field} {op} {value}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(clauses(), min_size=1, max_size=3))
def test_sql_search_matches_the_python_reading_of_the_filter(filled: Workspace, parts: list[str]) -> None:
    expr = " and ".join(parts)
    everything = filled.experiments.search_runs(experiments=["random"], max_results=None)
    parsed = parse_filter(expr)
    expected = sorted(r.name for r in everything if all(c.matches(r) for c in parsed))
    got = sorted(r.name for r in filled.experiments.search_runs(expr, experiments=["random"], max_results=None))
    assert got == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("metrics.auc >", "expected a value"),
        ("metrics.auc 0.5", "expected an operator"),
        ("metrics.auc > high", "compares numbers"),
        ("metrics.auc > 0.5 or metrics.auc < 0.1", "'or' is not supported"),
        ("metrics.auc > 0.5 metrics.auc < 0.9", "expected 'and'"),
        ("colour = red", "expected a field"),
        ("attributes.colour = red", "unknown attribute"),
        ("metrics.auc > 0.5 and", "expected a field"),
        ("metrics.auc ~ 3", "cannot read"),
    ],
)
def test_bad_filters_name_what_and_where(expr: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_filter(expr)


def test_bad_order_by(tmp_path: Path, ws: Workspace) -> None:
    with pytest.raises(ValidationError, match="order_by"):
        ws.experiments.search_runs(order_by="colour desc")
