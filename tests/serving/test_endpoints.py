"""Endpoints as real server processes: lifecycle, concurrent good and bad traffic, update,
the REST proxy, metrics across workers, capture, and failures."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from forgeml.api.app import create_app
from forgeml.core.jobs._local import pid_alive
from forgeml.core.workspace import Workspace
from forgeml.errors import (
    AlreadyExistsError,
    BackendUnavailableError,
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from forgeml.serving._process import members
from forgeml.settings import Settings

CSV = {"Content-Type": "text/csv"}
JSON = {"Content-Type": "application/json"}
# (body, headers, expected status, error type or None)
TRAFFIC: list[tuple[bytes, dict[str, str], int, str | None]] = [
    (b"0.5,3,red\n", CSV, 200, None),
    (b'[{"x1": -1, "x2": 2, "color": "blue"}, [0.1, 1, "green"]]', JSON, 200, None),
    (b'{"x1": 1, ', JSON, 400, "ValidationError"),
    (b"1,2\n", CSV, 400, "ValidationError"),
    (b"1,2,red\n" * 200, CSV, 413, "PayloadTooLargeError"),
    (b",2,red\n", CSV, 400, "ValidationError"),
    (b"0.5,3,red\n", {**CSV, "X-Amzn-SageMaker-Target-Variant": "nope"}, 400, "ValidationError"),
    (b"0.5,3,red\n", {**CSV, "X-Amzn-SageMaker-Target-Variant": "B", "X-Amzn-SageMaker-Inference-Id": "id-7"}, 200, None),
]


@pytest.fixture
def settings(settings: Settings, packages: dict[str, Path], model_folder: Path) -> Settings:
    """The REST API may load the test's packages: their folders are allowed code roots."""
    return settings.model_copy(update={"allowed_code_roots": [packages["tree"].parent, model_folder]})


@pytest.fixture(autouse=True)
def _no_server_left(ws: Workspace) -> Iterator[None]:
    """Whatever a test does, it leaves no endpoint server running."""
    yield
    for record in ws.endpoints.list():
        ws.endpoints.delete(record.name)


def _metric_total(text: str, name: str) -> dict[str, float]:
    out: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[sample.labels.get("variant", "")] += sample.value
    return dict(out)


def test_endpoint_lifecycle_under_concurrent_traffic(ws: Workspace, packages: dict[str, Path], model_folder: Path) -> None:
    config = {
        "variants": [
            {"name": "A", "model": str(packages["logistic"]), "weight": 1},
            {"name": "B", "model": str(packages["logistic"]), "weight": 1},
        ],
        "data_capture": {"sampling_percentage": 100},
        "max_payload_mb": 0.001,
    }
    record = ws.endpoints.create("ep", config)
    assert record.status == "InService" and record.version == 1 and record.data["workers"] == 2
    url = record.data["url"]
    with pytest.raises(AlreadyExistsError):
        ws.endpoints.create("ep", config)

    results: list[tuple[int, int, dict[str, str], bytes]] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for i in range(24):
                kind = (seed + i) % len(TRAFFIC)
                body, headers, _, _ = TRAFFIC[kind]
                r = http.post("/invocations", content=body, headers=headers)
                with lock:
                    results.append((kind, r.status_code, dict(r.headers), r.content))

    threads = [threading.Thread(target=client, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 144
    good = 0
    for kind, status, headers, content in results:
        _, _, expected, error = TRAFFIC[kind]
        assert status == expected, (kind, content)
        if error is None:
            good += 1
            assert headers["x-amzn-invoked-production-variant"] in ({"B"} if kind == 7 else {"A", "B"})
            assert len(orjson.loads(content)["predictions"]) == (2 if kind == 1 else 1)
        else:
            assert orjson.loads(content)["error"] == error
    assert httpx.get(f"{url}/ping").status_code == 200

    metrics = httpx.get(f"{url}/metrics").text  # summed over both worker processes
    assert sum(_metric_total(metrics, "forgeml_endpoint_invocations_total").values()) == 144
    errors = _metric_total(metrics, "forgeml_endpoint_invocation_errors_total")
    assert sum(errors.values()) == 144 - good and errors["-"] == 18  # unknown variant has no variant
    capture_dir = ws.endpoints.capture_dir("ep")
    lines = [orjson.loads(line) for f in capture_dir.rglob("*.jsonl") for line in f.read_bytes().splitlines()]
    assert len(lines) == good
    assert {p.relative_to(capture_dir).parts[0] for p in capture_dir.rglob("*.jsonl")} == {"A", "B"}
    assert sum(1 for line in lines if line["eventMetadata"].get("inferenceId") == "id-7") == 18

    # the SDK, the REST proxy and an update to a new version
    answer = ws.endpoints.invoke("ep", "0.5,3,red", content_type="text/csv", accept="text/csv", target_variant="A")
    assert answer.variant == "A" and len(answer.text.strip().split(",")) == 3
    with pytest.raises(ValidationError, match=r"record 0 column\(s\) 'x1' hold no value"):
        ws.endpoints.invoke("ep", ",3,red", content_type="text/csv")
    # A/B weights change without a new version
    reweighted = ws.endpoints.update_weights("ep", {"A": 0})
    assert reweighted.version == 1 and reweighted.status == "InService" and reweighted.data["weights"] == {"A": 0.0, "B": 1.0}
    assert {ws.endpoints.invoke("ep", "0.5,3,red", content_type="text/csv").variant for _ in range(12)} == {"B"}
    with pytest.raises(ValidationError, match="no variant"):
        ws.endpoints.update_weights("ep", {"Z": 1})
    with pytest.raises(ValidationError, match="more than 0"):
        ws.endpoints.update_weights("ep", {"B": 0})
    old_pid = record.data["pid"]
    with TestClient(create_app(ws)) as api:
        assert api.post("/endpoints/ep/weights", json={"weights": {"A": 1}}).json()["data"]["weights"] == {"A": 1.0, "B": 1.0}
        new_config = {"variants": [
            {"name": "C", "model": str(packages["tree"])},
            {"name": "many", "mode": "MultiModel", "model_dir": str(model_folder), "weight": 0},
        ]}  # fmt: skip
        missing = str(packages["tree"].parent / "no-such-folder")  # inside an allowed code root
        refused = api.put("/endpoints/ep", json={"variants": [{"name": "C", "model": missing}]})
        assert refused.status_code == 404 and refused.json()["message"] == f"variant 'C': model package folder {missing} does not exist"
        outside = api.put("/endpoints/ep", json={"variants": [{"name": "C", "model": "/no/such/folder"}]})
        assert outside.status_code == 403 and outside.json()["message"].startswith("variants[C].model: '/no/such/folder' is a path on the server")
        assert "outside the allowed folders" in outside.json()["message"]
        assert ws.endpoints.get("ep").version == 1 and ws.endpoints.get("ep").status == "InService"  # untouched
        assert api.put("/endpoints/ep", json=new_config).status_code == 200
        updated = ws.endpoints.get("ep")
        assert updated.version == 2 and updated.status == "InService"
        assert not pid_alive(old_pid, record.data["pid_start"])
        assert [(r.version, r.status) for r in ws.endpoints.versions("ep")] == [(2, "InService"), (1, "OutOfService")]
        assert "endpoint/ep:1" in {e.src for e in ws.metadata.list_edges(dst="endpoint/ep:2")}
        r = api.post("/endpoints/ep/invocations", content=b"[[0.5, 3]]", headers=JSON)
        assert r.status_code == 200 and r.headers["x-amzn-invoked-production-variant"] == "C"
        assert "prediction" in r.json()["predictions"][0]
        mme = {**JSON, "X-Amzn-SageMaker-Target-Variant": "many", "X-Amzn-SageMaker-Target-Model": "tree-4"}
        r = api.post("/endpoints/ep/invocations", content=b"[[0.5, 3]]", headers=mme)
        assert r.status_code == 200 and r.headers["x-amzn-invoked-production-variant"] == "many"
        direct = ws.endpoints.invoke("ep", b"[[0.5, 3]]", target_variant="many", target_model="tree-4")
        assert r.json() == direct.json() and "prediction" in direct.json()["predictions"][0]
        with pytest.raises(ValidationError, match="not in this endpoint's model folder"):
            ws.endpoints.invoke("ep", b"[[0.5, 3]]", target_variant="many", target_model="tree-99")
        bad = api.post("/endpoints/ep/invocations", content=b"[[0.5]]", headers=JSON)
        assert bad.status_code == 400 and bad.json()["error"] == "ValidationError"
        for value in (b"caf\xe9", "café".encode(), b"a\x00b"):  # latin-1 and UTF-8 bytes, a NUL
            latin = api.post("/endpoints/ep/invocations", content=b"[[0.5, 3]]", headers={**JSON, "X-Amzn-SageMaker-Inference-Id": value})
            assert latin.status_code == 400 and "x-amzn-sagemaker-inference-id must be visible ascii" in latin.json()["message"].lower()
        pool = api.app.state.endpoint_proxy.pool
        assert pool.opened == 1 and pool.idle() == 1  # the proxy's requests so far reused one keep-alive connection
        # the FastAPI route (the OpenAPI operation; apps built without the fast path) answers alike
        from fastapi import FastAPI

        from forgeml.api import endpoints as rest
        from forgeml.api import errors as rest_errors

        plain = FastAPI()
        plain.state.workspace = api.app.state.workspace
        rest_errors.install(plain)
        plain.include_router(rest.router)
        with TestClient(plain) as slow:
            for headers, status in [(JSON, 200), ({**JSON, "X-Amzn-SageMaker-Inference-Id": b"caf\xe9"}, 400)]:
                routed = slow.post("/endpoints/ep/invocations", content=b"[[0.5, 3]]", headers=headers)
                fast = api.post("/endpoints/ep/invocations", content=b"[[0.5, 3]]", headers=headers)
                assert routed.status_code == fast.status_code == status and routed.json() == fast.json()
            assert slow.post("/endpoints/none/invocations", content=b"[[0.5, 3]]", headers=JSON).status_code == 404
        missing = api.post("/endpoints/none/invocations", content=b"[[0.5, 3]]", headers=JSON)
        assert missing.status_code == 404
        assert [e["name"] for e in api.get("/endpoints").json()] == ["ep"]
        assert api.get("/endpoints/ep").json()["status"] == "InService"
        assert api.delete("/endpoints/ep").json() == {"name": "ep", "deleted": True}
    assert not pid_alive(updated.data["pid"], updated.data["pid_start"])
    with pytest.raises(NotFoundError):
        ws.endpoints.get("ep")
    assert capture_dir.is_dir()  # captured data outlives the endpoint, for monitoring


def test_failures_and_status_rules(ws: Workspace, packages: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="is not a model package"):
        ws.endpoints.deploy("nopkg", str(tmp_path))
    with pytest.raises(ValidationError, match="variant 'AllTraffic': invalid reference 'a:b:c'"):
        ws.endpoints.deploy("nopkg", "a:b:c")
    with pytest.raises(ValidationError, match="duplicate variant"):
        ws.endpoints.create("nopkg", {"variants": [{"model": str(packages["tree"])}] * 2})
    with pytest.raises(ValidationError):
        ws.endpoints.create("bad name!", variants=[{"model": str(packages["tree"])}])
    assert ws.endpoints.list() == []  # nothing half-written

    broken = tmp_path / "broken"
    shutil.copytree(packages["tree"], broken)
    (broken / "model.joblib").write_bytes(b"not a pickle")
    with pytest.raises(ValidationError, match=r"model\.joblib does not match its sha256"):
        ws.endpoints.deploy("broken", str(broken))  # refused before anything starts
    assert ws.endpoints.list() == []
    from forgeml.registry import read_manifest
    from forgeml.registry.package import write_manifest

    write_manifest(broken, replace(read_manifest(broken), files={}))  # consistent hashes, still no pickle
    with pytest.raises(BackendUnavailableError, match="exited"):
        ws.endpoints.deploy("broken", str(broken))
    failed = ws.endpoints.get("broken")
    assert failed.status == "Failed" and failed.data["failure_reason"]
    with pytest.raises(ConflictError):
        ws.endpoints.invoke("broken", "1,2", content_type="text/csv")
    with pytest.raises(InvalidTransitionError):
        ws.endpoints.update("broken", {"variants": [{"model": str(packages["tree"])}]})
    ws.endpoints.delete("broken")

    # registry versions, one of them compiled to ONNX, side by side as two variants
    from tests.serving.conftest import training_frame

    ws.registry.register("trees", packages["tree"])
    ws.registry.approve("trees", 1)
    compiled = ws.registry.compile("trees", 1, holdout=training_frame(50, seed=5)[0][["x1", "x2"]])
    with TestClient(create_app(ws)) as api:  # created through REST
        body = {"name": "live", "variants": [
            {"name": "sk", "model": "trees:approved"}, {"name": "onnx", "model": f"model/trees:{compiled.version}", "weight": 0},
        ]}  # fmt: skip
        created = api.post("/endpoints", json=body)
        assert created.status_code == 201 and created.json()["status"] == "InService"
        assert api.post("/endpoints", json=body).status_code == 409
        assert api.post("/endpoints", json={"name": "x", "variants": []}).status_code == 400
    live = ws.endpoints.get("live")
    assert {e.src for e in ws.metadata.list_edges(dst="endpoint/live:1")} == {"model/trees:1", f"model/trees:{compiled.version}"}
    rows = b"[[0.3, 4], [-1.2, 9], [2.5, 0]]"
    sk = ws.endpoints.invoke("live", rows, target_variant="sk").json()["predictions"]
    onnx = ws.endpoints.invoke("live", rows, target_variant="onnx").json()["predictions"]
    assert [p["prediction"] for p in onnx] == pytest.approx([p["prediction"] for p in sk], rel=1e-4, abs=1e-4)
    assert {ws.endpoints.invoke("live", rows).variant for _ in range(5)} == {"sk"}  # weight 0: only when targeted
    marker = f"FORGEML_ENDPOINT_RUNTIME={live.data['runtime_dir']}/runtime.json"
    workers = members(live.data["pid"], marker)
    assert len(workers) >= 2  # a worker per variant (and multiprocessing helpers), in the server's group
    def ping_pids(want: int, exclude: set[int]) -> dict[int, list[str]]:
        seen: dict[int, list[str]] = {}
        deadline = time.monotonic() + 60
        while len(seen) < want and time.monotonic() < deadline:  # a new connection lands on either worker
            with contextlib.suppress(httpx.HTTPError):
                ping = httpx.get(f"{live.data['url']}/ping", headers={"Connection": "close"}).json()
                if ping["pid"] not in exclude:
                    seen[ping["pid"]] = ping["preloaded"]
        return seen

    first = ping_pids(2, set())
    assert list(first.values()) == [["sk"], ["sk"]]  # the ONNX variant loads in the worker (no thread pools forked)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)  # a worker dies: the supervisor forks a replacement
    replacement = ping_pids(1, set(first))
    assert len(replacement) == 1 and next(iter(replacement.values())) == ["sk"]  # forked with its model loaded
    assert len(ws.endpoints.invoke("live", rows, target_variant="sk").json()["predictions"]) == 3
    assert ws.endpoints.get("live").status == "InService"
    os.kill(live.data["pid"], signal.SIGKILL)  # a real kill -9 of the server's supervisor
    deadline = time.monotonic() + 30
    while members(live.data["pid"], marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert members(live.data["pid"], marker) == []  # its workers stopped on their own: nobody serves
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{live.data['url']}/invocations", content=rows, headers=JSON)
    failed = ws.endpoints.get("live")
    assert failed.status == "Failed" and "exited unexpectedly" in failed.data["failure_reason"]
    ws.endpoints.delete("live")
    assert ws.endpoints.list() == []


def test_cli_endpoints(ws: Workspace, packages: dict[str, Path], tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "FORGEML_HOME": str(ws.home), "COLUMNS": "200"}

    def forgeml(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "forgeml", "endpoints", *args], input=stdin, capture_output=True, env=env, timeout=120)

    out = forgeml("deploy", "cli", "--model", str(packages["tree"]), "--capture", "50", "--json")
    assert out.returncode == 0, out.stderr
    created: dict[str, Any] = orjson.loads(out.stdout)
    assert created["status"] == "InService" and created["spec"]["data_capture"]["sampling_percentage"] == 50
    try:
        listed = orjson.loads(forgeml("ls", "--json").stdout)
        assert [(e["name"], e["status"]) for e in listed] == [("cli", "InService")]
        request = tmp_path / "rows.csv"
        request.write_text("0.5,3\n-1,1\n")
        out = forgeml("invoke", "cli", "-f", str(request), "--accept", "text/csv", "--show-variant")
        assert out.returncode == 0 and len(out.stdout.decode().strip().splitlines()) == 2
        assert b"invoked variant: AllTraffic" in out.stderr
        out = forgeml("invoke", "cli", stdin=b'{"instances": [[0.5, 3]]}')
        assert "predictions" in orjson.loads(out.stdout)
        out = forgeml("invoke", "cli", stdin=b"[[0.5]]")
        assert out.returncode == 2 and out.stderr.decode().startswith("error: record 0: expected 2 value(s)")
        shown = orjson.loads(forgeml("show", "cli", "--json").stdout)
        assert shown["versions"] == [{"version": 1, "status": "InService"}]
        assert forgeml("logs", "cli").returncode == 0
        out = forgeml("update-weights", "cli", "AllTraffic=2", "--json")
        assert out.returncode == 0 and orjson.loads(out.stdout)["data"]["weights"] == {"AllTraffic": 2.0}
        out = forgeml("update-weights", "cli", "AllTraffic=3")
        assert out.returncode == 0 and out.stdout == b"endpoint cli: weights AllTraffic=3.0\n"  # text, not a dict repr
        out = forgeml("update-weights", "cli", "AllTraffic=lots")
        assert out.returncode == 2 and b"use VARIANT=NUMBER" in out.stderr
    finally:
        assert forgeml("delete", "cli").returncode == 0
    out = forgeml("show", "cli")
    assert out.returncode == 4 and b"does not exist" in out.stderr


def test_ctrl_c_during_deploy_stops_the_server(ws: Workspace, packages: dict[str, Path]) -> None:
    import subprocess
    import sys

    env = {**os.environ, "FORGEML_HOME": str(ws.home)}
    cli = subprocess.Popen(
        [sys.executable, "-m", "forgeml", "endpoints", "deploy", "sigint", "--model", str(packages["tree"]), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        started: dict[str, Any] = {}
        while not started and time.monotonic() < deadline:  # the server process exists, not yet healthy
            found = ws.metadata.list_resources("endpoint", name="sigint", limit=1)
            if found and found[0].status == "Creating" and found[0].data.get("pid"):
                started = found[0].data
            time.sleep(0.02)
        assert started, "the deploy never started a server"
        cli.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground command
        _, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 130, err.decode()
    record = ws.endpoints.get("sigint")
    assert record.status == "Failed" and record.data["failure_reason"] == "interrupted while starting (Ctrl-C); the server was stopped"
    assert not pid_alive(started["pid"], started["pid_start"])
    assert members(started["pid"], f"FORGEML_ENDPOINT_RUNTIME={started['runtime_dir']}/runtime.json") == []  # no orphan
    ws.endpoints.delete("sigint")
