"""The legitimate ways over the network (uploads, bundles, what an operator allowed) work, the
SDK and the CLI keep full access, and a real ``forgeml server`` enforces it all over sockets."""

from __future__ import annotations

import io
import os
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from forgeml.core.workspace import Workspace
from forgeml.settings import Settings
from tests.cli_runner import run_cli
from tests.registry._models import frame, hgb_package

SCRIPT = Path(__file__).parents[1] / "training" / "scripts" / "sklearn_rf" / "train.py"
ACCURACY = [{"Name": "validation:accuracy", "Regex": r"test accuracy: ([0-9.]+)"}]


def add_one(frame: pd.DataFrame, column: str = "f0") -> pd.DataFrame:
    """A custom recipe step the operator allows in the tests below."""
    return frame.assign(**{column: frame[column] + 1})


def add_two(frame: pd.DataFrame) -> pd.DataFrame:
    """A custom recipe step the operator did not allow."""
    return frame.assign(f0=frame["f0"] + 2)


def targz(files: dict[str, bytes | Path], wrap: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            raw = data.read_bytes() if isinstance(data, Path) else data
            info = tarfile.TarInfo(f"{wrap}/{name}" if wrap else name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def package_archive(folder: Path) -> bytes:
    return targz({p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}, wrap="pkg")


def labelled(n: int, seed: int) -> pd.DataFrame:
    X, y = frame(n=n, seed=seed)
    return X.assign(label=y)


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path]:
    out = {name: tmp_path / name for name in ("data", "code", "outside")}
    for folder in out.values():
        folder.mkdir()
    return out


@pytest.fixture
def settings(settings: Settings, roots: dict[str, Path]) -> Settings:
    """What an operator allowed: one data folder, one code folder, PostgreSQL, one module."""
    return settings.model_copy(update={
        "allowed_data_roots": [roots["data"]], "allowed_code_roots": [roots["code"]], "allowed_url_schemes": ["postgresql"],
        "allowed_entry_points": ["tests.core.test_rest_access_ways:add_one"],
    })  # fmt: skip


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with TestClient(create_app(ws)) as c:
        yield c


def test_uploaded_data_and_source_bundle_train_a_script_over_rest(ws: Workspace, client: TestClient) -> None:
    for name, seed in (("tr", 0), ("te", 1)):
        up = client.post(f"/datasets/{name}/upload", params={"filename": f"{name}.csv"}, content=labelled(200, seed).to_csv(index=False).encode())
        assert up.status_code == 201, up.text
    bundle = client.post("/bundles", content=targz({"train.py": SCRIPT, "lib/__init__.py": b""}), headers={"content-type": "application/gzip"})
    assert bundle.status_code == 201, bundle.text
    body = {
        "name": "from-bundle", "script": "train.py", "source_bundle": bundle.json()["ref"], "target": "label",
        "hyperparameters": {"target": "label", "n-estimators": 5}, "metric_definitions": ACCURACY,
        "channels": {"train": {"source": "dataset/tr", "content_type": "text/csv"}, "test": {"source": "dataset/te", "content_type": "text/csv"}},
    }  # fmt: skip
    created = client.post("/training-jobs", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["AlgorithmSpecification"]["Script"] == "train.py"
    job = ws.training.wait("from-bundle", timeout=180)
    assert job.status == "Completed", job.failure_reason
    assert job.config["code_digest"] == bundle.json()["digest"] and job.config["source_dir"] == bundle.json()["ref"]
    assert f"artifact/{bundle.json()['digest']}" in ws.jobs.get("from-bundle").inputs
    assert ws.training.metrics("from-bundle", "validation:accuracy")[0].value > 0.6
    registered = client.post("/model-package-groups/rf/versions", json={"training_job": "from-bundle"})
    assert registered.status_code == 201 and registered.json()["ref"] == "model/rf:1"
    missing = client.post("/training-jobs", json={**body, "name": "x", "script": "nope.py"})
    assert missing.status_code == 404 and "is not in bundle" in missing.json()["message"]
    escape = client.post("/training-jobs", json={**body, "name": "x", "script": "../../../etc/passwd.py"})
    assert escape.status_code == 400 and "inside the bundle" in escape.json()["message"]
    both = client.post("/training-jobs", json={**body, "name": "x", "source_dir": "/tmp"})
    assert both.status_code == 400 and "not both" in both.json()["message"]


def test_allowed_data_roots_and_schemes_admit_what_the_operator_listed(client: TestClient, roots: dict[str, Path], postgres_url: str) -> None:
    labelled(20, 0).to_csv(roots["data"] / "a.csv", index=False)
    (roots["data"] / "part").mkdir()
    labelled(5, 1).to_csv(roots["data"] / "part" / "b.csv", index=False)
    with sqlite3.connect(roots["data"] / "app.db") as db:
        db.execute("create table t (id integer, v real)")
        db.executemany("insert into t values (?, ?)", [(1, 0.5), (2, 1.5)])
    labelled(5, 2).to_csv(roots["outside"] / "c.csv", index=False)
    for i, (body, rows) in enumerate((({"source": str(roots["data"] / "a.csv")}, 20), ({"source": f"{roots['data']}/**/*.csv"}, 25),
                                      ({"source": f"sqlite:///{roots['data']}/app.db", "table": "t"}, 2))):  # fmt: skip
        r = client.post("/datasets/ingest", json={**body, "name": f"ok{i}"})
        assert r.status_code == 201 and r.json()["data"]["rows"] == rows, r.text
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text("create table pg (id int, v float)"))
        conn.execute(sa.text("insert into pg values (1, 2.0)"))
    engine.dispose()
    pg = client.post("/datasets/ingest", json={"source": postgres_url, "name": "pg", "table": "pg"})
    assert pg.status_code == 201 and pg.json()["data"]["rows"] == 1, pg.text
    for source in (str(roots["outside"] / "c.csv"), f"{roots['data']}/../outside/c.csv", "mysql://u@127.0.0.1/x"):
        r = client.post("/datasets/ingest", json={"source": source, "name": "no"})
        assert r.status_code == 403, r.text


def test_allowed_code_root_admits_its_scripts_and_packages(ws: Workspace, client: TestClient, roots: dict[str, Path]) -> None:
    ws.datasets.create("tr", labelled(50, 0))
    (roots["code"] / "train.py").write_bytes(SCRIPT.read_bytes())
    r = client.post("/training-jobs", json={"name": "coderoot", "script": str(roots["code"] / "train.py"), "channels": {"train": "dataset/tr"}})
    assert r.status_code == 201, r.text
    ws.training.stop("coderoot", wait=True)
    pkg = hgb_package(roots["code"] / "pkg")
    assert client.post("/model-package-groups/g/versions", json={"path": str(pkg)}).status_code == 201
    ws.datasets.create("loans", labelled(40, 3))
    ev = client.post("/evaluations", json={"model_dir": str(pkg), "dataset": "loans"})
    assert ev.status_code == 201 and ev.json()["data"]["metrics"]["auc"] > 0.5


def test_uploaded_package_archive_is_registered_and_transforms_a_dataset(ws: Workspace, client: TestClient, tmp_path: Path) -> None:
    pkg = hgb_package(tmp_path / "built")
    up = client.post("/model-package-groups/loans/packages", params={"description": "uploaded"}, content=package_archive(pkg))
    assert up.status_code == 201, up.text
    assert up.json()["ref"] == "model/loans:1" and up.json()["spec"]["source"]["kind"] == "artifact"
    ws.datasets.create("rows", frame(n=30, seed=4)[0])
    t = client.post("/transform-jobs", json={"name": "t-up", "model": "loans:1", "dataset": "rows"})
    assert t.status_code == 201, t.text
    done = ws.transforms.wait("t-up", timeout=180)
    assert done.status == "Completed", done.failure_reason
    described = client.get("/transform-jobs/t-up").json()
    assert described["files"][0]["records"] == 30
    out_name = Path(described["files"][0]["output"]).name
    got = client.get(f"/transform-jobs/t-up/output/{out_name}")  # how a network caller gets the results
    assert got.status_code == 200 and len(got.content.decode().strip().splitlines()) == 30
    for bad in ("nope.out", "..%2F..%2Fforgeml.db", "%2Fetc%2Fpasswd"):
        assert client.get(f"/transform-jobs/t-up/output/{bad}").status_code == 404
    not_pkg = client.post("/model-package-groups/loans/packages", content=targz({"README": b"hello"}))
    assert not_pkg.status_code == 400 and "holds no forgeml-model.json" in not_pkg.json()["message"]


def test_an_uploaded_package_may_import_only_allowed_functions(client: TestClient, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from forgeml.data.recipes import Recipe
    from forgeml.registry import save_model
    from tests.registry._models import inputs

    X, y = frame(n=80)
    for name, function in (("allowed", "tests.core.test_rest_access_ways:add_one"), ("denied", "tests.core.test_rest_access_ways:add_two")):
        fitted = Recipe([{"type": "custom", "function": function, "kwargs": {}}]).fit(X)
        model = LogisticRegression().fit(fitted.transform(X), y)
        save_model(model, tmp_path / name, task="binary", inputs=inputs(), target="label", recipe=fitted.to_dict())
        r = client.post(f"/model-package-groups/{name}/packages", content=package_archive(tmp_path / name))
        if name == "allowed":
            assert r.status_code == 201, r.text
        else:
            assert r.status_code == 403 and r.json()["message"].startswith("package recipe.steps[0].function: 'tests.core.test_rest_access_ways:add_two'")


def test_allowed_entry_point_runs_as_a_custom_recipe_step(ws: Workspace, client: TestClient) -> None:
    ws.datasets.create("loans", labelled(30, 0))
    spec = {"steps": [{"type": "custom", "function": "tests.core.test_rest_access_ways:add_one", "kwargs": {"column": "f1"}}]}
    r = client.post("/datasets/loans/recipe", json={"spec": spec})
    assert r.status_code == 201, r.text
    denied = client.post("/datasets/loans/recipe", json={"spec": {"steps": [{"type": "custom", "function": "tests.core.test_rest_access_ways:add_two"}]}})
    assert denied.status_code == 403 and "allowed_entry_points" in denied.json()["message"]
    builtin = client.post("/tuning-jobs", json={
        "name": "bowl", "objective": {"metric": "validation:loss", "type": "Minimize"}, "max_jobs": 1,
        "parameter_ranges": {"x": {"type": "Continuous", "min": 0, "max": 1}},
        "training": {"entrypoint": "forgeml.tuning.synthetic:bowl", "metrics": ["validation:loss"]},
    })  # fmt: skip
    assert builtin.status_code == 201, builtin.text  # ForgeML's own network-safe entry point
    assert ws.tuning.wait("bowl", timeout=180)["status"] == "Completed"


def test_sdk_and_cli_keep_full_access(ws: Workspace, roots: dict[str, Path]) -> None:
    outside = roots["outside"]
    labelled(10, 0).to_csv(outside / "x.csv", index=False)
    assert ws.datasets.ingest(str(outside / "x.csv"), "sdk").data["rows"] == 10
    (outside / "train.py").write_bytes(SCRIPT.read_bytes())
    plan = ws.training.plan("sdk-plan", script=str(outside / "train.py"), channels={"train": "dataset/sdk"})
    assert plan["config"]["script"] == "train.py"
    pkg = hgb_package(outside / "pkg")
    assert ws.registry.register("sdk", pkg).version == 1
    out = run_cli(ws.home, "data", "ingest", str(outside / "x.csv"), "-n", "cli")
    assert out.returncode == 0, out.stderr
    assert ws.datasets.get("cli").data["rows"] == 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, roots: dict[str, Path]) -> Iterator[tuple[str, Path]]:
    """``forgeml server`` in its own process, configured through the environment."""
    home, port = tmp_path / "server-ws", _free_port()
    env = {**os.environ, "FORGEML_HOME": str(home), "FORGEML_ALLOWED_DATA_ROOTS": str(roots["data"])}
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "forgeml", "server", "--port", str(port)], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        yield url, home
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def test_forgeml_server_refuses_server_paths_over_sockets(server: tuple[str, Path], roots: dict[str, Path]) -> None:
    url, home = server
    labelled(12, 0).to_csv(roots["data"] / "ok.csv", index=False)
    with httpx.Client(base_url=url, timeout=60) as http:
        for body in ({"source": "/etc/os-release", "name": "leak"}, {"source": f"sqlite:///{home}/forgeml.db", "name": "leak", "table": "jobs"}):
            r = http.post("/datasets/ingest", json=body)
            assert r.status_code == 403 and r.json()["error"] == "ForbiddenError", r.text
        r = http.post("/training-jobs", json={"script": "/usr/lib/python3/dist-packages/evil.py", "channels": {"train": "/etc"}})
        assert r.status_code == 403, r.text
        ok = http.post("/datasets/ingest", json={"source": str(roots["data"] / "ok.csv"), "name": "ok"})
        assert ok.status_code == 201 and ok.json()["data"]["rows"] == 12
        assert [d["name"] for d in http.get("/datasets").json()] == ["ok"]



OBJECTIVE = b'''"""A processing-style entrypoint shipped in a bundle: reports a loss from its hyperparameter."""


def run(ctx):
    x = float(ctx.config["hyperparameters"]["x"])
    ctx.log_metric("validation:loss", (x - 0.25) ** 2, 0)
'''


def test_tuning_runs_an_entrypoint_from_an_uploaded_bundle(ws: Workspace, client: TestClient) -> None:
    bundle = client.post("/bundles", content=targz({"myobjective.py": OBJECTIVE, "os.py": b"def getcwd(ctx):\n    pass\n"})).json()
    spec = {
        "name": "bundled", "strategy": "Grid", "objective": {"metric": "validation:loss", "type": "Minimize"},
        "parameter_ranges": {"x": {"type": "Categorical", "values": [0.0, 0.25]}},
        "training": {"entrypoint": "myobjective:run", "source_bundle": bundle["ref"], "metrics": ["validation:loss"]},
    }  # fmt: skip
    created = client.post("/tuning-jobs", json=spec)
    assert created.status_code == 201, created.text
    done = ws.tuning.wait("bundled", timeout=180)
    assert done["status"] == "Completed" and done["best"]["params"] == {"x": 0.25}
    trial = ws.tuning.trials("bundled")[0]["training_job"]
    assert f"artifact/{bundle['digest']}" in ws.jobs.get(trial).inputs
    missing = client.post("/tuning-jobs", json={**spec, "name": "nomod", "training": {**spec["training"], "entrypoint": "subprocess:run"}})
    assert missing.status_code == 400 and "holds no module 'subprocess'" in missing.json()["message"]
    # a module name the process already imported from elsewhere never runs as the bundle's code
    shadow = client.post("/tuning-jobs", json={**spec, "name": "shadow", "max_jobs": 1, "strategy": "Random",
                                               "training": {**spec["training"], "entrypoint": "os:getcwd"}})  # fmt: skip
    assert shadow.status_code == 201, shadow.text
    ws.tuning.wait("shadow", timeout=180, raise_on_failure=False)
    failed = ws.jobs.get(ws.tuning.trials("shadow")[0]["training_job"])
    assert failed.status == "Failed" and "is not a module of code bundle" in (failed.failure_reason or "")
