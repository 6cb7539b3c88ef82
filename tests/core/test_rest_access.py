"""Nothing that arrives over HTTP reaches the server's files, code or network (issue 11, item 2).

The route table is walked: every request field whose name says it is a location (a path, a
folder, a script, a model, a URL, an output, ...) must declare what it reaches
(``x-forgeml-access``), and every field the access policy checks must have an attack below that
the API refuses with 403 while nothing runs and nothing is written. A new route with such a
field fails here until it is declared and attacked.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.settings import load_settings
from tests.registry._models import frame, hgb_package

# a field is location-like when its last word (or whole name) is one of these
WORDS = {"path", "dir", "file", "filename", "source", "script", "url", "uri", "output", "destination", "location", "root",
         "entrypoint", "module", "function", "holdout", "bundle", "inputs", "model", "channels", "recipe", "training",
         "variants", "capture", "environment", "spec", "config", "dataset", "sql", "query", "ref", "definition"}  # fmt: skip
KINDS = {"source", "data", "code", "model", "entry_point", "output", "environment", "nested", "reference", "name", "bundle", "sql"}
CHECKED = {"source", "data", "code", "model", "entry_point", "output", "environment", "nested"}


def location_like(name: str) -> bool:
    return name.lower() in WORDS or name.lower().rsplit("_", 1)[-1] in WORDS


def _refs(schema: Any) -> Iterator[str]:
    """Names of the component schemas a schema points to (through anyOf, items, ...)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            yield schema["$ref"].rsplit("/", 1)[-1]
        for value in schema.values():
            yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


def _properties(components: dict[str, Any], name: str, prefix: str = "", seen: frozenset[str] = frozenset()) -> Iterator[tuple[str, Any]]:
    for prop, schema in components[name].get("properties", {}).items():
        yield prefix + prop, schema
        for inner in _refs(schema):
            if inner not in seen:
                yield from _properties(components, inner, f"{prefix}{prop}.", seen | {name})


def declared_fields(doc: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """``(METHOD PATH, field, declared kind)`` of every location-like request field in the
    app's route table (its OpenAPI document: bodies, nested models, query and path parameters)."""
    components = doc.get("components", {}).get("schemas", {})
    out = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            fields = [(p["name"], p.get("schema", {})) for p in op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {})
            for media in body.values():
                for ref in _refs(media.get("schema", {})):
                    fields.extend(_properties(components, ref))
            for name, schema in fields:
                if location_like(name.rsplit(".", 1)[-1]):
                    out.append((f"{method.upper()} {path}", name, schema.get("x-forgeml-access")))
    return out


@dataclass(frozen=True)
class Attack:
    route: str
    field: str
    body: dict[str, Any]
    message: str  # the refusal starts with this (the field, as the service names it)
    path: str | None = None  # the concrete URL when the route has parameters
    status: int = 403


BIAS_CONFIG = {"label": "label", "label_values_or_threshold": [1], "facet": ["f0>0"]}
EVIL_SCRIPT = "open({marker!r}, 'w').write('ran')\n"
ATTACKS = [
    Attack("POST /datasets/ingest", "source", {"source": "/etc/os-release", "name": "leak"}, "source: '/etc/os-release' is a path on the server"),
    Attack("POST /datasets/ingest", "source", {"source": "{outside}/secret.csv", "name": "leak"}, "source: "),
    Attack("POST /datasets/ingest", "source", {"source": "{allowed_data}/../outside/secret.csv", "name": "leak"}, "source: "),
    Attack("POST /datasets/ingest", "source", {"source": "{allowed_data}/link.csv", "name": "leak"}, "source: "),
    Attack("POST /datasets/ingest", "source", {"source": "{allowed_data}/*.csv", "name": "leak"}, "source: "),
    Attack("POST /datasets/ingest", "source", {"source": "sqlite:///{home}/forgeml.db", "name": "leak", "table": "jobs"}, "source: 'sqlite:///"),
    Attack("POST /datasets/ingest", "source", {"source": "duckdb:///:memory:", "name": "leak", "query": "select * from read_text('/etc/passwd')"}, "source: "),
    Attack("POST /datasets/ingest", "source", {"source": "postgresql://postgres@127.0.0.1:5432/test", "name": "leak", "table": "pg_user"}, "source: "),
    Attack("POST /datasets/ingest", "source", {"source": "http://127.0.0.1:1/x.csv", "name": "leak"}, "source: "),
    Attack("POST /datasets/ingest", "source", {"source": "simplecache::file:///etc/os-release", "name": "leak"}, "source: the chained URL"),
    Attack("POST /training-jobs", "script", {"script": "{evil}", "channels": {"train": "dataset/loans"}}, "script: "),
    Attack("POST /training-jobs", "source_dir", {"script": "evil.py", "source_dir": "{outside}", "channels": {"train": "dataset/loans"}}, "source_dir: "),
    Attack("POST /training-jobs", "channels", {"algorithm": "linear-learner", "target": "label", "channels": {"train": "/etc"}}, "channels.train: "),
    Attack("POST /training-jobs", "channels", {"algorithm": "linear-learner", "target": "label", "channels": {"train": {"source": "{outside}"}}}, "channels.train: "),
    Attack("POST /training-jobs", "recipe", {"algorithm": "linear-learner", "target": "label", "channels": {"train": "dataset/loans"},
                                            "recipe": {"steps": [{"type": "custom", "function": "os:getcwd"}]}}, "recipe.steps[0].function: 'os:getcwd'"),
    Attack("POST /training-jobs", "source_bundle", {"script": "train.py", "source_bundle": "/etc", "channels": {"train": "dataset/loans"}},
           "source_bundle: expected an artifact digest", status=400),
    Attack("POST /tuning-jobs", "training", {"objective": {"metric": "validation:loss", "type": "Minimize"}, "parameter_ranges": {"x": {"type": "Continuous", "min": 0, "max": 1}},
                                            "training": {"entrypoint": "os:system", "metrics": ["validation:loss"]}}, "training.entrypoint: 'os:system'"),
    Attack("POST /tuning-jobs", "training", {"objective": {"metric": "validation:loss", "type": "Minimize"}, "parameter_ranges": {"x": {"type": "Continuous", "min": 0, "max": 1}},
                                            "training": {"script": "{evil}", "channels": {"train": "dataset/loans"}, "metric_definitions": [{"Name": "validation:loss", "Regex": "l=(.*)"}]}},
           "script: "),
    Attack("POST /tuning-jobs", "training", {"objective": {"metric": "train:auc", "type": "Maximize"}, "parameter_ranges": {"learning_rate": {"type": "Continuous", "min": 0.01, "max": 0.1}},
                                            "training": {"algorithm": "linear-learner", "target": "label", "channels": {"train": "/etc"}}}, "channels.train: "),
    Attack("POST /model-package-groups/{group}/versions", "path", {"path": "{outside_pkg}"}, "path: ", path="/model-package-groups/m/versions"),
    Attack("POST /model-package-groups/{group}/versions/{version}/compile", "holdout", {"holdout": "/etc/os-release"}, "holdout: ",
           path="/model-package-groups/m/versions/1/compile"),
    Attack("POST /transform-jobs", "model", {"model": "{outside_pkg}", "dataset": "loans"}, "model: "),
    Attack("POST /transform-jobs", "inputs", {"model": "m:1", "inputs": ["/etc/os-release"]}, "inputs[0]: "),
    Attack("POST /transform-jobs", "output_path", {"model": "m:1", "dataset": "loans", "output_path": "{outside}/out"}, "output_path: a request over the network may not name"),
    Attack("POST /transform-jobs", "environment", {"model": "m:1", "dataset": "loans", "environment": {"LD_PRELOAD": "{outside}/x.so"}}, "environment: "),
    Attack("POST /transform-jobs", "environment", {"model": "m:1", "dataset": "loans", "environment": {"PYTHONPATH": "{outside}"}}, "environment: "),
    Attack("POST /evaluations", "model_dir", {"model_dir": "{outside_pkg}", "dataset": "loans"}, "model: "),
    Attack("POST /evaluations", "dataset", {"model_dir": "{pkg}", "dataset": "/etc/os-release"}, "dataset: "),
    Attack("POST /evaluations", "dataset", {"model_dir": "{pkg}", "dataset": "{outside}/secret.csv"}, "dataset: "),
    Attack("POST /evaluations/cross-validate", "model_dir", {"model_dir": "{outside_pkg}", "dataset": "loans"}, "model: "),
    Attack("POST /evaluations/cross-validate", "dataset", {"model_dir": "{pkg}", "dataset": "{outside}/secret.csv"}, "dataset: "),
    Attack("POST /model-cards", "model_dir", {"model_dir": "{outside_pkg}"}, "model: "),
    Attack("POST /clarify/bias", "dataset", {"dataset": "{outside}/secret.csv", "label": "label", "facets": ["f0>0"]}, "dataset: "),
    Attack("POST /clarify/bias", "model_dir", {"dataset": "loans", "label": "label", "facets": ["f0>0"], "model_dir": "{outside_pkg}"}, "model: "),
    Attack("POST /clarify/explanations", "model_dir", {"model_dir": "{outside_pkg}", "dataset": "loans"}, "model: "),
    Attack("POST /clarify/explanations", "dataset", {"model_dir": "{pkg}", "dataset": "/etc/os-release"}, "dataset: "),
    Attack("POST /clarify/analyze", "model_dir", {"dataset": "loans", "config": {"methods": {"shap": {}}}, "model_dir": "{outside_pkg}"}, "model: "),
    Attack("POST /clarify/analyze", "dataset", {"dataset": "{outside}/secret.csv", "config": {"methods": {"shap": {}}}, "model_dir": "{pkg}"}, "dataset: "),
    # since h11-refs `model` takes a registered model or a folder (model_dir is the folder-only spelling): one resolver, one check
    Attack("POST /evaluations", "model", {"model": "{outside_pkg}", "dataset": "loans"}, "model: "),
    Attack("POST /evaluations", "model", {"model": "./pkg", "dataset": "loans"}, "model: './pkg' is a path on the server"),
    Attack("POST /evaluations/cross-validate", "model", {"model": "{outside_pkg}", "dataset": "loans"}, "model: "),
    Attack("POST /model-cards", "model", {"model": "{outside_pkg}"}, "model: "),
    Attack("POST /clarify/bias", "model", {"dataset": "loans", "label": "label", "facets": ["f0>0"], "model": "{outside_pkg}"}, "model: "),
    Attack("POST /clarify/explanations", "model", {"model": "{outside_pkg}", "dataset": "loans"}, "model: "),
    Attack("POST /clarify/analyze", "model", {"dataset": "loans", "config": {"methods": {"shap": {}}}, "model": "{outside_pkg}"}, "model: "),
    Attack("POST /clarify/analyze", "config", {"dataset": "loans", "config": {"methods": {"shap": {"baseline": "/etc/passwd"}}}, "model_dir": "{pkg}"},
           "analysis config: methods.shap.baseline must be a list of rows", status=400),
    Attack("POST /datasets/{name}/recipe", "spec", {"spec": {"steps": [{"type": "custom", "function": "subprocess:run", "kwargs": {"shell": True}}]}},
           "spec.steps[0].function: 'subprocess:run'", path="/datasets/loans/recipe"),
    Attack("POST /datasets/{name}/recipe", "spec", {"spec": "steps:\n  - {type: custom, function: 'os:getcwd'}\n"}, "spec.steps[0].function", path="/datasets/loans/recipe"),
    Attack("POST /endpoints", "variants", {"name": "e1", "variants": [{"name": "A", "model": "{outside_pkg}"}]}, "variants[A].model: "),
    Attack("POST /alarms", "webhook_url", {"name": "a1", "namespace": "AWS/SageMaker", "metric_name": "Invocations", "statistic": "Sum", "period": 60,
                                           "evaluation_periods": 1, "threshold": 1, "comparison_operator": "GreaterThanThreshold",
                                           "webhook_url": "http://169.254.169.254/latest/meta-data"}, "alarm config: webhook_url host", status=400),
    Attack("POST /endpoints", "variants", {"name": "e1", "variants": [{"name": "A", "mode": "MultiModel", "model_dir": "{outside}"}]}, "variants[A].model_dir: "),
    # event rules and schedules post only to hosts the operator allowed (one list: allowed_webhook_hosts)
    Attack("POST /rules", "url", {"name": "r1", "pattern": {"source": ["forgeml.alarms"]},
                                  "targets": [{"type": "webhook", "url": "http://169.254.169.254/latest/meta-data"}]}, "targets.0.url: host", status=400),
    Attack("POST /schedules", "url", {"name": "s1", "expression": "rate(1 minute)",
                                      "targets": [{"type": "webhook", "url": "http://127.0.0.1:22/"}]}, "targets.0.url: host", status=400),
    Attack("POST /endpoints", "data_capture", {"name": "e1", "variants": [{"name": "A", "model": "m:1"}],
                                               "data_capture": {"enabled": True, "destination": "{outside}/capture"}}, "data_capture.destination: "),
    Attack("PUT /endpoints/{name}", "variants", {"variants": [{"name": "A", "model": "{outside_pkg}"}]}, "variants[A].model: ", path="/endpoints/live"),
    Attack("PUT /endpoints/{name}", "shadow_variants", {"variants": [{"name": "A", "model": "m:1"}],
                                                        "shadow_variants": [{"name": "S", "model": "{outside_pkg}"}]},
           "variants[S].model: ", path="/endpoints/live"),
    Attack("POST /endpoints", "shadow_variants", {"name": "e1", "variants": [{"name": "A", "model": "m:1"}],
                                                  "shadow_variants": [{"name": "S", "model": "{outside_pkg}"}]}, "variants[S].model: "),
    Attack("POST /shadow-tests", "model", {"name": "t1", "endpoint": "live", "model": "{outside_pkg}"}, "model: "),
    Attack("POST /shadow-tests", "model", {"name": "t1", "endpoint": "live", "model": "./pkg"}, "model: './pkg' is a path on the server"),
    Attack("PUT /endpoints/{name}", "data_capture", {"variants": [{"name": "A", "model": "m:1"}], "data_capture": {"enabled": True, "destination": "/tmp"}},
           "data_capture.destination: ", path="/endpoints/live"),
    # a pipeline over HTTP runs only built-in or uploaded work (docs/pipelines.md); its executions keep the network's access
    Attack("POST /pipelines", "definition", {"name": "evil", "definition": {"Steps": [{"Name": "P", "Type": "Processing", "Arguments": {
           "Callable": "builtins:exec", "Inputs": {"source": "import os"}}}]}}, "step 'P' Arguments.Callable: 'builtins:exec'"),
    Attack("POST /pipelines", "definition", {"name": "evil", "definition": {"Steps": [{"Name": "T", "Type": "Training", "Arguments": {
           "script": "{evil}", "channels": {"train": "dataset/loans"}}}]}}, "step 'T' Arguments.script: "),
    Attack("POST /pipelines", "definition", {"name": "evil", "definition": {"Steps": [{"Name": "T", "Type": "Training", "Arguments": {
           "algorithm": "linear-learner", "target": "label", "channels": {"train": "{outside}/secret.csv"}}}]}}, "step 'T' Arguments.channels.train: "),
    Attack("POST /monitoring/bias-baselines", "dataset", {"dataset": "{outside}/secret.csv", "model": "m:1", "config": BIAS_CONFIG}, "dataset: "),
    Attack("POST /monitoring/bias-baselines", "model", {"dataset": "loans", "model": "{outside_pkg}", "config": BIAS_CONFIG}, "model: "),
    Attack("POST /monitoring/bias-baselines", "model_dir", {"dataset": "loans", "model_dir": "{outside_pkg}", "config": BIAS_CONFIG}, "model: "),
    Attack("POST /monitoring/bias-baselines", "config", {"dataset": "loans", "model": "m:1", "config": {**BIAS_CONFIG, "dataset_uri": "/etc/passwd"}},
           "bias_config: unknown key(s) dataset_uri", status=400),
    Attack("POST /monitoring/explainability-baselines", "dataset", {"dataset": "/etc/os-release", "model": "m:1"}, "dataset: "),
    Attack("POST /monitoring/explainability-baselines", "model", {"dataset": "loans", "model": "{outside_pkg}"}, "model: "),
    Attack("POST /monitoring/explainability-baselines", "model_dir", {"dataset": "loans", "model_dir": "{outside_pkg}"}, "model: "),
    Attack("POST /monitoring/explainability-baselines", "config", {"dataset": "loans", "model": "m:1", "config": {"baseline": "/etc/passwd"}},
           "explainability_config: unknown key(s) baseline", status=400),
]  # fmt: skip


def secret_frame() -> Any:
    X, y = frame(n=60, seed=3)
    return X.assign(label=y)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A workspace whose operator allowed one data folder and one code folder, a dataset, a
    registered model, and, outside the allowed folders, a secret file, a script and a package."""
    root = tmp_path_factory.mktemp("access")
    allowed_data, allowed_code, outside = root / "allowed-data", root / "allowed-code", root / "outside"
    for folder in (allowed_data, allowed_code, outside):
        folder.mkdir()
    secret_frame().to_csv(outside / "secret.csv", index=False)
    (allowed_data / "link.csv").symlink_to(outside / "secret.csv")
    marker = root / "ran"
    (outside / "evil.py").write_text(EVIL_SCRIPT.format(marker=str(marker)))
    pkg = hgb_package(allowed_code / "pkg")
    outside_pkg = shutil.copytree(pkg, outside / "pkg")
    settings = load_settings(home=str(root / "ws"), job_stop_grace_seconds=2.0, job_poll_seconds=0.1,
                             allowed_data_roots=[str(allowed_data)], allowed_code_roots=[str(allowed_code)])  # fmt: skip
    ws = Workspace(settings)
    ws.datasets.create("loans", secret_frame())
    ws.registry.register("m", pkg)
    ws.endpoints.deploy("live", "m:1")
    values = {"home": str(ws.home), "outside": str(outside), "allowed_data": str(allowed_data), "evil": str(outside / "evil.py"),
              "pkg": str(pkg), "outside_pkg": str(outside_pkg)}  # fmt: skip
    try:
        with TestClient(create_app(ws)) as client:
            yield {"ws": ws, "client": client, "values": values, "marker": marker}
    finally:
        for record in ws.endpoints.list():  # "live", and any endpoint an attack would have started
            ws.endpoints.delete(record.name)
        ws.close()


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**values) if "{" in value and "}" in value and not value.startswith("steps") else value
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def _state(ws: Workspace) -> tuple[Any, ...]:
    return (
        [j.name for j in ws.jobs.list()], [d.ref for d in ws.datasets.list()], [v.ref for v in ws.registry.versions("m")],
        [e.ref for e in ws.endpoints.list()], len(ws.metadata.list_artifacts()),
    )  # fmt: skip


def test_every_location_like_request_field_declares_what_it_reaches(world: dict[str, Any]) -> None:
    found = declared_fields(world["client"].get("/openapi.json").json())
    undeclared = [f"{route} {field}" for route, field, kind in found if kind is None]
    assert undeclared == [], "declare json_schema_extra=reaches(KIND) (forgeml.core.access) on these fields"
    assert {kind for _, _, kind in found} <= KINDS
    checked = {(route, field.rsplit(".", 1)[-1]) for route, field, kind in found if kind in CHECKED}
    attacked = {(a.route, a.field) for a in ATTACKS}
    assert sorted(checked - attacked) == [], "add an Attack for each field the access policy checks"
    assert attacked <= {(route, field.rsplit(".", 1)[-1]) for route, field, _ in found}  # no attack on a field that is gone
    assert len(checked) >= 25  # the walk sees the bodies and nested models, not just the route names


@pytest.mark.parametrize("attack", ATTACKS, ids=[f"{a.route} {a.field} {i}" for i, a in enumerate(ATTACKS)])
def test_attack_is_refused_and_nothing_runs_or_is_written(world: dict[str, Any], attack: Attack) -> None:
    ws, client = world["ws"], world["client"]
    before = _state(ws)
    method, route = attack.route.split(" ", 1)
    body = _fill(attack.body, world["values"])
    r = client.request(method, attack.path or route, json=body)
    assert r.status_code == attack.status, r.text
    assert r.json()["message"].startswith(attack.message.format(**world["values"])), r.json()["message"]
    assert "\n" not in r.json()["message"] and "Traceback" not in r.text
    if attack.status == 403:
        assert r.json()["error"] == "ForbiddenError"
        assert any(s in r.json()["message"] for s in ("allowed_", "may not name where", "may not set", "the pattern"))
    assert _state(ws) == before
    assert not world["marker"].exists()
    assert not (Path(world["values"]["outside"]) / "out").exists() and not (Path(world["values"]["outside"]) / "capture").exists()


def test_the_openapi_document_shows_what_each_field_reaches(world: dict[str, Any]) -> None:
    schemas = world["client"].get("/openapi.json").json()["components"]["schemas"]
    assert schemas["IngestRequest"]["properties"]["source"]["x-forgeml-access"] == "source"
    assert schemas["CreateTrainingJob"]["properties"]["source_bundle"]["x-forgeml-access"] == "bundle"
