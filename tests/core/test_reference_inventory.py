"""One way to name things, checked face by face from the faces' own tables.

The Typer app and the FastAPI route table are walked, so a new command or route is covered the day
it is added: every parameter that names a resource must declare its kind (a CLI metavar from
``forgeml.cli._refs``; a REST path parameter in :data:`ROUTE_PARAMS`) or be listed as a plain name
of something to create; every read command and GET route is then called with every reference
form against a workspace that holds one real resource of each kind, plus a malformed and an unknown
version to show the reference reached the resolver.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from fastapi.testclient import TestClient

from forgeml.cli import build_app
from forgeml.cli._common import state
from forgeml.cli._refs import METAVARS
from forgeml.core.workspace import Workspace
from forgeml.settings import load_settings
from tests.cli_runner import run_cli
from tests.evaluation.helpers import loans_frame, save_binary
from tests.registry.conftest import _one_thread  # noqa: F401  (autouse: OpenMP pinned to 1 thread)

# parameters whose names look like a resource but that name something to create, or are no reference
NAMES: dict[tuple[str, str], str] = {
    ("data ingest", "name"): "the dataset to write",
    ("data consume", "name"): "the dataset to write",
    ("data consume", "group"): "a Redis consumer group",
    ("models register", "package"): "a local package folder to register",
    ("data import", "name"): "the name to import under",
    ("data flush", "name"): "the dataset buffered records are written to",
    ("data validate", "clean"): "the dataset to write clean rows to",
    ("data pii", "output"): "the dataset to write protected rows to",
    ("data split", "prefix"): "the prefix of the datasets to write",
    ("endpoints create", "name"): "the endpoint to create",
    ("endpoints deploy", "name"): "the endpoint to create",
    ("evaluate run", "name"): "the evaluation to store",
    ("monitor create", "name"): "the monitoring schedule to create",
    ("monitor quality", "name"): "the monitoring execution to store",
    ("monitor cbpe-baseline", "name"): "the CBPE reference (monitoring baseline) to store",
    ("evaluate card", "name"): "the card to store",
    ("clarify bias", "name"): "the report to store",
    ("clarify explain", "name"): "the explanation to store",
    ("clarify analyze", "name"): "the reports to store",
    ("features create", "name"): "the feature group to create",
    ("features build-training-set", "output"): "the dataset to write",
    ("models register", "group"): "the group to register into (created when missing)",
    ("models import-mlflow", "group"): "the group to register into",
    ("models import-mlflow", "src"): "an MLflow folder",
    ("models alias", "name"): "the alias to set",
    ("train create", "name"): "the job to create",
    ("train create", "experiment"): "the experiment to log into (created when missing)",
    ("transform create", "name"): "the job to create",
    ("tune create", "name"): "the job to create",
    ("tune optimize", "name"): "the job to create",
    ("jobs ls", "name"): "a substring filter",
    ("train ls", "name"): "a substring filter",
    ("monitor baseline", "name"): "the baseline to store",
    ("monitor run", "name"): "the execution to store",
    ("monitor bias-baseline", "name"): "the baseline to store",
    ("monitor explainability-baseline", "name"): "the baseline to store",
    ("monitor bias", "name"): "the execution to store",
    ("monitor explainability", "name"): "the execution to store",
    ("alarms delete", "name"): "an alarm, named not versioned",
    ("alarms history", "name"): "an alarm, named not versioned",
    ("alarms set-state", "name"): "an alarm, named not versioned",
    ("alarms show", "name"): "an alarm, named not versioned",
    ("alarms metrics", "name"): "a metric name filter",
    ("alarms stats", "name"): "a metric name",
    ("auth create-user", "name"): "the principal to create",
    ("auth put-policy", "name"): "the policy to store",
    ("auth create-group", "name"): "the security group to create (not a resource reference)",
    ("auth create-role", "name"): "the role to create (not a resource reference)",
    ("auth add-to-group", "group"): "a security group's name (not a resource reference)",
    ("auth remove-from-group", "group"): "a security group's name (not a resource reference)",
    ("auth simulate", "resource"): "a resource pattern to evaluate a policy against",
    ("endpoints async-result", "output"): "a local file to write the result to",
    ("pipelines create", "name"): "the pipeline to create (or version)",
    ("pipelines show", "name"): "a pipeline: NAME or NAME:VERSION (pipelines are not among the reference kinds' forms)",
    ("pipelines start", "name"): "a pipeline: NAME or NAME:VERSION",
    ("pipelines run", "name"): "a pipeline: NAME or NAME:VERSION",
    ("pipelines executions", "name"): "a pipeline name filter",
    ("pipelines callback", "output"): "NAME=VALUE output parameters of a callback step",
    ("rules create", "name"): "the rule to create",
    ("rules delete", "name"): "a rule, named not versioned",
    ("rules disable", "name"): "a rule, named not versioned",
    ("rules enable", "name"): "a rule, named not versioned",
    ("rules firings", "name"): "a rule, named not versioned",
    ("rules show", "name"): "a rule, named not versioned",
    ("schedules create", "name"): "the schedule to create",
    ("schedules delete", "name"): "a schedule, named not versioned",
    ("schedules disable", "name"): "a schedule, named not versioned",
    ("schedules enable", "name"): "a schedule, named not versioned",
    ("schedules firings", "name"): "a schedule, named not versioned",
    ("schedules show", "name"): "a schedule, named not versioned",
    ("gate", "champion"): "an alias or version of the candidate's group (or a model reference), resolved by the gate",
    ("shadow-tests create", "name"): "the shadow test to create",
    ("shadow-tests show", "name"): "a shadow test, named not versioned",
    ("shadow-tests report", "name"): "a shadow test, named not versioned",
    ("shadow-tests stop", "name"): "a shadow test, named not versioned",
    ("shadow-tests promote", "name"): "a shadow test, named not versioned",
}
RESOURCE_WORDS = {
    "name", "group", "dataset", "model", "ref", "resource", "run", "runs", "experiment", "experiments", "digest",
    "challenger", "champion", "evaluation", "bias", "explanation", "holdout", "data", "other", "base", "training_job",
    "artifact", "entity", "parents", "from_dataset", "output", "clean", "prefix", "src", "package", "job",
}  # fmt: skip
READ_VERBS = {"show", "head", "versions", "events", "logs", "metrics", "runs", "check", "download", "wait", "model", "lineage", "export", "compare"}


def _commands() -> Iterator[tuple[str, Any]]:
    def walk(command: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        if hasattr(command, "commands"):
            for name, sub in sorted(command.commands.items()):
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), command

    yield from walk(typer.main.get_command(build_app()), [])


def _kind(param: Any) -> str | None:
    metavar = getattr(param, "metavar", None)
    return METAVARS[metavar][0] if metavar in METAVARS else None


def test_every_cli_parameter_that_names_a_resource_declares_its_kind() -> None:
    unclassified, stale = [], set(NAMES)
    for path, command in _commands():
        for param in command.params:
            stale.discard((path, param.name))
            if _kind(param) is None and param.name in RESOURCE_WORDS and (path, param.name) not in NAMES:
                unclassified.append(f"{path} {param.name}")
    assert not unclassified, f"declare these with ref_argument/ref_option (or list them in NAMES): {unclassified}"
    assert not stale, f"NAMES lists parameters that no longer exist: {sorted(stale)}"


# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A workspace with one real resource of every kind (two versions where versions exist)."""
    from threadpoolctl import threadpool_limits

    root = tmp_path_factory.mktemp("inventory")
    ws = Workspace(load_settings(home=str(root / "ws"), job_stop_grace_seconds=2.0, job_poll_seconds=0.1))
    frame = loans_frame(240, seed=4)[["income", "debt", "black", "approve"]]
    with threadpool_limits(limits=1):
        ws.datasets.create("loans", frame.iloc[:200])
        ws.datasets.create("loans", frame)  # version 2
        job = ws.training.create("train-1", algorithm="xgboost", channels={"train": "loans:1"}, target="approve",
                                 hyperparameters={"num_round": "5"}, wait=True)  # fmt: skip
        ws.registry.register("loans", training_job=job.name)
        ws.registry.register("loans", training_job="job/train-1")  # version 2
        ws.registry.set_alias("loans", "champion", 1)
        ws.registry.register("lr", save_binary(root / "lr", frame, kind="logistic"))
        ws.registry.compile("lr:1", holdout="loans")  # lr:2 carries a compile report
        ws.transforms.create("loans@champion", dataset="loans:1", name="transform-1", content_type="application/jsonlines", wait=True)
        ws.evaluation.evaluate("loans:1", "loans", name="loans")
        ws.clarify.bias("loans", label="approve", facets=["black=1"], model="model/loans@champion", name="loans")
        ws.clarify.explain("loans@champion", "loans:1", name="loans", max_rows=20, top_k_features=1)
        ws.evaluation.model_card("loans:1", evaluation="loans", name="loans")
        for version in ("loans:1", "loans"):
            ws.prep.profile(version)
            ws.prep.validate(version, 'Rules = [ IsComplete "income" ]')
        ws.features.create_group("clicks", record_identifier="id", event_time_feature="ts",
                                 features=[{"name": "id", "type": "Integral"}, {"name": "ts", "type": "Fractional"},
                                           {"name": "clicks", "type": "Integral"}])  # fmt: skip
        ws.features.put_record("clicks", {"id": 1, "ts": 1.0, "clicks": 3})
        ws.experiments.import_runs("exp", [{"name": "run-1", "metrics": {"auc": 0.8}}])
        ws.endpoints.create("ep", variants=[{"name": "AllTraffic", "model": "loans@champion", "workers": 1}])
        ws.monitoring.baseline("loans:1", name="loans")
        ws.monitoring.check("loans", "loans:2", name="loans")
        ws.monitoring.create_schedule("loans", baseline="loans", endpoint="ep", cron="daily")
    digest = ws.datasets.get("loans:1").data["artifact"]
    forms = {
        "dataset": ["loans", "loans:1", "loans@latest", "dataset/loans:1", "dataset/loans"],
        "model": ["loans", "loans:1", "loans@champion", "loans:champion", "model/loans:1", "model/loans@champion"],
        "endpoint": ["ep", "ep:1", "ep@latest", "endpoint/ep"],
        "job": ["train-1", "job/train-1"],
        "evaluation": ["loans", "loans:1", "loans@latest", "evaluation/loans:1"],
        "bias-report": ["loans", "loans:1", "bias-report/loans:1"],
        "explanation": ["loans", "loans:1", "explanation/loans"],
        "feature-group": ["clicks", "clicks:1", "clicks@latest", "feature-group/clicks"],
        "experiment": ["exp", "experiment/exp"],
        "run": ["exp/run-1", "run/exp/run-1"],
        "artifact": [digest, digest[:8], f"artifact/{digest[:8]}"],
        "clarify": ["loans", "loans:1", "bias-report/loans:1", "explanation/loans"],
        "report": ["evaluation/loans:1", "data-profile/loans", "bias-report/loans", "model/lr:2"],
        "monitoring-schedule": ["loans", "monitoring-schedule/loans"],
        "ref": ["dataset/loans:1", "model/loans@champion", "job/train-1", f"artifact/{digest[:8]}", "endpoint/ep"],
    }
    try:
        yield {"ws": ws, "forms": forms, "root": root}
    finally:
        with contextlib.suppress(Exception):
            ws.endpoints.delete("ep")
        ws.close()


# per command group: which fixture job its JOB references mean
JOB_OF = {"train": "train-1", "transform": "transform-1"}
# commands and routes that act on a whole resource: a version form is refused with a clear error
WHOLE = {"models versions", "features check", "data versions", "/datasets/{name}/versions", "/model-package-groups/{group}/versions", "/feature-groups/{name}/records/{record_id}",
         "/feature-groups/{name}/snapshot", "/feature-groups/{name}/consistency"}
BAD = {"dataset": ("loans:0", "loans:99", "dataset 'loans' has no version 99 (latest is 2)"),
       "model": ("loans:0", "loans:99", "model 'loans' has no version 99 (latest is 2)"),
       "evaluation": ("loans:0", "loans:99", "evaluation 'loans' has no version 99 (latest is 1)"),
       "endpoint": ("ep:0", "ep:99", "endpoint 'ep' has no version 99 (latest is 1)"),
       "feature-group": ("clicks:0", "clicks:99", "feature group 'clicks' has no version 99 (latest is 1)")}  # fmt: skip


def _invocations() -> Iterator[tuple[str, str]]:
    """(command, kind) of every read command whose required parameters are all one reference."""
    for path, command in _commands():
        if path.split()[-1] not in READ_VERBS or path.startswith("tune "):  # the fixture holds no tuning job
            continue
        required = [p for p in command.params if p.required]
        if len(required) == 1 and _kind(required[0]):
            yield path, str(_kind(required[0]))


INVOCATIONS = sorted(_invocations())


def test_the_inventory_reaches_every_kind() -> None:
    kinds = {kind for _, kind in INVOCATIONS}
    assert {"dataset", "model", "endpoint", "job", "evaluation", "feature-group", "run", "experiment", "ref", "report", "clarify"} <= kinds
    assert len(INVOCATIONS) >= 25


def _run(ws: Workspace, *args: str) -> Any:
    state.workspace = ws
    try:
        return run_cli(ws.home, *args)
    finally:
        state.workspace = None


def _args(path: str, value: str, root: Path) -> list[str]:
    args = [*path.split(), value]
    if path == "models download":
        args += ["--dest", str(root / f"download-{len(list(root.iterdir()))}")]
    return args


def _forms(world: dict[str, Any], path: str, kind: str) -> list[str]:
    if kind == "job":
        job = JOB_OF.get(path.split()[0], "train-1")
        return [job, f"job/{job}"]
    return list(world["forms"][kind])


@pytest.mark.parametrize(("path", "kind"), INVOCATIONS, ids=[f"{p}:{k}" for p, k in INVOCATIONS])
def test_every_read_command_takes_every_form(world: dict[str, Any], path: str, kind: str) -> None:
    ws, root = world["ws"], world["root"]
    for form in _forms(world, path, kind):
        out = _run(ws, *_args(path, form, root))
        if path in WHOLE and re.search(r"[:@](?!latest)", form.split("/", 1)[-1]):
            assert out.returncode == 2 and "names a version, but this acts on the whole" in out.stderr, (form, out.stderr)
            continue
        assert out.returncode == 0, f"forgeml {path} {form}: exit {out.returncode}: {out.stderr.strip()}"
    if kind in BAD:
        malformed, unknown, message = BAD[kind]
        out = _run(ws, *_args(path, malformed, root))
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "versions are integers from 1" in out.stderr, out.stderr
        if path not in WHOLE:
            out = _run(ws, *_args(path, unknown, root))
            assert out.returncode == 4 and out.stderr.strip() == f"error: {message}", out.stderr


# --------------------------------------------------------------------------------------------------
# REST: every path parameter of every route, by the route's first segment and the parameter's name.
# In a URL the route names the kind, so a segment takes NAME, NAME:VERSION or NAME@ALIAS ("/" would
# end the segment); "name" marks a parameter that is no reference.
ROUTE_PARAMS: dict[tuple[str, str], str] = {
    ("/datasets", "name"): "dataset",
    ("/datasets", "kind"): "name",
    ("/datasets", "version"): "version",
    ("/model-package-groups", "group"): "model",
    ("/model-package-groups", "version"): "version",
    ("/model-package-groups", "alias"): "name",
    ("/endpoints", "name"): "endpoint",
    ("/jobs", "name"): "job",
    ("/training-jobs", "name"): "job",
    ("/transform-jobs", "name"): "job",
    ("/transform-jobs", "file"): "name",  # one of the job's output files, by its file name (h11-paths)
    ("/tuning-jobs", "name"): "job",
    ("/feature-groups", "name"): "feature-group",
    ("/feature-groups", "record_id"): "name",
    ("/evaluations", "name"): "evaluation",
    ("/model-cards", "name"): "evaluation",
    ("/clarify", "name"): "evaluation",
    ("/experiments", "name"): "experiment",
    ("/runs", "experiment"): "name",
    ("/runs", "run"): "name",
    ("/lineage", "ref"): "ref",
    ("/reports", "ref"): "report",
    ("/monitoring", "baseline"): "monitoring-baseline",
    ("/monitoring", "execution"): "monitoring-execution",
    ("/monitoring", "schedule"): "name",  # a schedule has one version: NAME (or monitoring-schedule/NAME)
    ("/monitoring", "endpoint"): "endpoint",  # POST /monitoring/ground-truth/{endpoint}
    ("/alarms", "name"): "name",  # an alarm is named, not versioned (docs/alarms.md)
    ("/rules", "name"): "name",  # an event rule is named, not versioned (docs/rules.md)
    ("/schedules", "name"): "name",  # a schedule is named, not versioned (docs/rules.md)
    ("/endpoints", "inference_id"): "name",  # an async request's InferenceId
    ("/pipelines", "name"): "name",  # a pipeline's name (NAME:V also resolves; ?version= picks one)
    ("/pipeline-executions", "execution"): "name",  # an execution id
    ("/shadow-tests", "name"): "name",  # a shadow test is named, not versioned
    ("/endpoints", "variant"): "name",  # a production variant of the endpoint (autoscaling)
    ("/endpoints", "policy"): "name",  # a scaling policy, named per variant
    ("/endpoints", "action"): "name",  # a scheduled scaling action, named per variant
}
PATH_FORMS = {
    "dataset": ["loans", "loans:1", "loans@latest"],
    "model": ["loans", "loans:1", "loans@champion", "loans:champion"],
    "endpoint": ["ep", "ep:1", "ep@latest"],
    "feature-group": ["clicks", "clicks:1", "clicks@latest"],
    "evaluation": ["loans", "loans:1", "loans@latest"],
    "experiment": ["exp"],
    "job": ["train-1"],
    "monitoring-baseline": ["loans", "loans:1", "loans@latest"],
    "monitoring-execution": ["loans", "loans:1", "loans@latest"],
}
FIXED = {"version": "1", "record_id": "1", "kind": "profile", "file": "loans-1.jsonl.out"}  # file: transform-1's output
QUERY = {"/datasets/{name}/diff": {"a": "1"}}


def _routes() -> Iterator[tuple[str, list[str], set[str]]]:
    import importlib

    from forgeml.api.app import ROUTERS

    for module in ROUTERS:
        for route in importlib.import_module(module).router.routes:
            yield route.path, re.findall(r"{(\w+)(?::\w+)?}", route.path), set(getattr(route, "methods", None) or ())


def _prefix(path: str) -> str:
    return "/" + path.strip("/").split("/")[0]


def test_every_rest_path_parameter_is_classified() -> None:
    missing = sorted({f"{p} {{{n}}}" for p, params, _ in _routes() for n in params if (_prefix(p), n) not in ROUTE_PARAMS})
    assert not missing, f"classify these path parameters in ROUTE_PARAMS: {missing}"


def _get_routes() -> list[str]:
    """GET routes whose first path parameter is a reference (tuning jobs: none in the fixture)."""
    return sorted({
        path for path, params, methods in _routes()
        if "GET" in methods and params and ROUTE_PARAMS[(_prefix(path), params[0])] != "name" and _prefix(path) != "/tuning-jobs"
        and path not in NEEDS_STATE
    })  # fmt: skip


# GET routes over an endpoint that answer 404 until something happened to it (a deployment, an
# async request); their endpoint segment goes through the same resolver as /endpoints/{name}
NEEDS_STATE = {"/endpoints/{name}/deployment", "/endpoints/{name}/async-invocations/{inference_id}",
               "/endpoints/{name}/async-invocations/{inference_id}/result"}  # fmt: skip


@pytest.fixture(scope="module")
def client(world: dict[str, Any]) -> Iterator[TestClient]:
    from forgeml.api.app import create_app

    with TestClient(create_app(world["ws"])) as c:
        yield c


def _route_forms(world: dict[str, Any], route: str, params: list[str]) -> list[str]:
    kind = ROUTE_PARAMS[(_prefix(route), params[0])]
    if kind in ("ref", "report"):
        return list(world["forms"][kind])
    if kind == "job":
        return ["transform-1" if route.startswith("/transform-jobs") else "train-1"]
    if route.endswith("/compilation.html"):
        return ["lr", "lr:2"][: 1 if "version" in params else 2]
    forms = PATH_FORMS[kind]
    return forms[:1] if "version" in params else forms  # with a {version} segment the version is given there


@pytest.mark.parametrize("route", _get_routes())
def test_every_get_route_takes_every_form(client: TestClient, world: dict[str, Any], route: str) -> None:
    params = re.findall(r"{(\w+)(?::\w+)?}", route)
    for form in _route_forms(world, route, params):
        url = re.sub(r"{\w+(?::\w+)?}", lambda _m: "\x00", route, count=1).replace("\x00", form)
        for p in params[1:]:
            url = re.sub(r"{" + p + r"(?::\w+)?}", "2" if route.endswith("/compilation.html") else FIXED[p], url)
        response = client.get(url, params=QUERY.get(route))
        if route in WHOLE and re.search(r"[:@](?!latest)", form):
            assert response.status_code == 400 and "acts on the whole" in response.json()["message"], (url, response.text)
            continue
        assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text[:300]}"
        if route.endswith(".html") or route.startswith("/reports/"):
            assert response.headers["content-type"].startswith("text/html") and "<html" in response.text
    malformed = client.get(re.sub(r"{\w+(?::\w+)?}", "x:0", route, count=1).replace("{version}", "1").replace("{record_id}", "1").replace("{kind}", "profile"))
    assert malformed.status_code in (400, 404) and malformed.status_code != 500
