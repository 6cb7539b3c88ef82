"""The CLI and REST faces of ws.pipelines, and what a network caller may not define or smuggle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forgeml.api.app import create_app
from tests.cli_runner import run_cli
from tests.pipelines import _lib

YAML = """
Name: yaml-gate
Parameters:
  - {Name: A, Type: Integer, DefaultValue: 1}
  - {Name: Limit, Type: Integer, DefaultValue: 5}
Steps:
  - Name: Add
    Type: Processing
    Arguments:
      Callable: tests.pipelines._lib:add
      File: {lib}
      Inputs: {a: {Get: Parameters.A}, b: 2}
  - Name: Check
    Type: Condition
    Arguments:
      Conditions:
        - {Type: LessThanOrEqualTo, LeftValue: {Get: "Steps.Add.Result['sum']"}, RightValue: {Get: Parameters.Limit}}
      IfSteps: []
      ElseSteps:
        - {Name: TooBig, Type: Fail, Arguments: {ErrorMessage: {"Std:Join": {On: " ", Values: ["sum above", {Get: Parameters.Limit}]}}}}
"""


def test_cli(ws, tmp_path: Path) -> None:
    spec = tmp_path / "p.yaml"
    spec.write_text(YAML.replace("{lib}", _lib.__file__))
    out = run_cli(ws.home, "pipelines", "create", str(spec), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["version"] == 1
    assert "yaml-gate" in run_cli(ws.home, "pipelines", "ls").stdout
    shown = run_cli(ws.home, "pipelines", "show", "yaml-gate")
    assert shown.returncode == 0 and "Check" in shown.stdout and "Condition" in shown.stdout
    ok = run_cli(ws.home, "pipelines", "run", "yaml-gate", "--wait", "-p", "A=2")
    assert ok.returncode == 0, ok.stderr
    assert "Succeeded" in ok.stdout and "Add (Processing)" in ok.stdout
    bad = run_cli(ws.home, "pipelines", "run", "yaml-gate", "--wait", "-p", "A=9")
    assert bad.returncode == 1
    assert "step TooBig (Fail): sum above 5" in bad.stderr
    listed = json.loads(run_cli(ws.home, "pipelines", "executions", "yaml-gate", "--json").stdout)
    assert [e["status"] for e in listed] == ["Failed", "Succeeded"]
    failed_id = listed[0]["id"]
    dag = run_cli(ws.home, "pipelines", "show", "yaml-gate", "--execution", failed_id)
    assert dag.returncode == 0 and "TooBig (Fail)" in dag.stdout and "NotStarted" not in dag.stdout
    as_json = json.loads(run_cli(ws.home, "pipelines", "show", "yaml-gate", "--execution", failed_id, "--json").stdout)
    assert {s["step"]: s["status"] for s in as_json["steps"]} == {"Add": "Succeeded", "Check": "Succeeded", "TooBig": "Failed"}
    assert all(s["duration_seconds"] is not None for s in as_json["steps"])
    wrong = run_cli(ws.home, "pipelines", "run", "yaml-gate", "-p", "A=x")
    assert wrong.returncode == 2 and wrong.stderr.strip() == "error: parameter 'A': 'x' is not a Integer"
    retried = run_cli(ws.home, "pipelines", "retry", failed_id, "--json")
    assert json.loads(retried.stdout)["status"] == "Executing"
    again = run_cli(ws.home, "pipelines", "retry", listed[1]["id"])
    assert again.returncode != 0 and "only a Failed one can be retried" in again.stderr
    # a callback answered from the CLI
    cb = tmp_path / "cb.yaml"
    cb.write_text("Name: cli-cb\nSteps:\n  - {Name: Wait, Type: Callback, Arguments: {OutputParameters: [{OutputName: ok}]}}\n")
    run_cli(ws.home, "pipelines", "create", str(cb))
    ex = json.loads(run_cli(ws.home, "pipelines", "start", "cli-cb", "--json").stdout)
    ws.pipelines.tick()
    token = ws.pipelines.callback_token(ex["id"], "Wait")
    answered = run_cli(ws.home, "pipelines", "callback", token, "-o", "ok=yes", "--json")
    assert answered.returncode == 0 and json.loads(answered.stdout)["status"] == "Succeeded"
    stop = run_cli(ws.home, "pipelines", "stop", ex["id"])
    ws.pipelines.tick()
    assert ws.pipelines.execution(ex["id"]).status in ("Succeeded", "Stopped") and stop.returncode in (0, 1)


@pytest.fixture
def client(ws):  # type: ignore[no-untyped-def]
    with TestClient(create_app(ws)) as c:
        yield c


def _callback_definition() -> dict[str, object]:
    return {"Parameters": [{"Name": "Who", "Type": "String", "DefaultValue": "ops"}],
            "Steps": [{"Name": "Ask", "Type": "Callback", "Arguments": {"Inputs": {"who": {"Get": "Parameters.Who"}},
                                                                     "OutputParameters": [{"OutputName": "answer"}]}}]}  # fmt: skip


def test_rest(ws, client: TestClient) -> None:
    r = client.post("/pipelines", json={"name": "rest-cb", "definition": _callback_definition()})
    assert r.status_code == 200, r.text
    assert client.get("/pipelines/rest-cb").json()["version"] == 1
    assert client.get("/pipelines").json()[0]["name"] == "rest-cb"
    r = client.post("/pipelines/rest-cb/executions", json={"parameters": {"Who": "qa"}})
    ex = r.json()
    assert r.status_code == 200 and ex["status"] == "Executing" and ex["origin"] == "network"
    ws.pipelines.tick()
    [msg] = [e for e in ws.metadata.list_events(resource=f"pipeline/rest-cb/execution/{ex['id']}") if e.type == "PipelineCallback"]
    assert msg.data["arguments"] == {"who": "qa"}
    assert client.post("/pipeline-callbacks/success", json={"token": "nope"}).status_code == 404
    r = client.post("/pipeline-callbacks/success", json={"token": msg.data["token"], "outputs": {"answer": "yes"}})
    assert r.status_code == 200 and r.json()["status"] == "Succeeded" and "token" not in r.json()
    assert client.post("/pipeline-callbacks/failure", json={"token": msg.data["token"]}).status_code == 409
    ws.pipelines.tick()
    described = client.get(f"/pipeline-executions/{ex['id']}").json()
    assert described["status"] == "Succeeded" and described["steps"][0]["properties"]["OutputParameters"] == [{"Name": "answer", "Value": "yes"}]
    assert client.post(f"/pipeline-executions/{ex['id']}/stop").status_code == 409
    assert client.post(f"/pipeline-executions/{ex['id']}/retry").status_code == 409
    assert client.get("/pipeline-executions/nope").status_code == 404
    assert [e["id"] for e in client.get("/pipelines/rest-cb/executions").json()] == [ex["id"]]
    bad = client.post("/pipelines/rest-cb/executions", json={"parameters": {"Who": 3}})
    assert bad.status_code == 400 and bad.json()["message"] == "parameter 'Who': 3 is not a String"
    cyc = {"Steps": [{"Name": "A", "Type": "Callback", "Arguments": {}, "DependsOn": ["B"]},
                     {"Name": "B", "Type": "Callback", "Arguments": {}, "DependsOn": ["A"]}]}  # fmt: skip
    r = client.post("/pipelines", json={"name": "cyc", "definition": cyc})
    assert r.status_code == 400 and "cycle" in r.json()["message"]


@pytest.mark.parametrize(("step", "message"), [
    ({"Name": "P", "Type": "Processing", "Arguments": {"Callable": "subprocess:run", "Inputs": {"args": "id"}}},
     "step 'P' Arguments.Callable: 'subprocess:run' is server-side code"),
    ({"Name": "P", "Type": "Processing", "Arguments": {"Callable": "tests.pipelines._lib:mark", "Inputs": {}}},
     "step 'P' Arguments.Callable: 'tests.pipelines._lib:mark' is server-side code"),
    ({"Name": "T", "Type": "Training", "Arguments": {"script": "/etc/evil.py", "channels": {"train": "dataset/d"}}},
     "step 'T' Arguments.script: "),
    ({"Name": "T", "Type": "Training", "Arguments": {"algorithm": "xgboost", "target": "y", "channels": {"train": "/etc/passwd.csv"}}},
     "step 'T' Arguments.channels.train: "),
])  # fmt: skip
def test_a_network_definition_may_not_name_server_code_or_paths(ws, client: TestClient, step: dict[str, object], message: str) -> None:
    r = client.post("/pipelines", json={"name": "evil", "definition": {"Steps": [step]}})
    assert r.status_code == 403 and r.json()["message"].startswith(message), r.json()
    assert ws.pipelines.list() == []


def test_a_network_execution_runs_with_network_access(ws, client: TestClient, tmp_path: Path) -> None:
    """A parameter that puts a server path into a training channel is refused when the step starts."""
    secret = tmp_path / "secret.csv"
    secret.write_text("x,y\n1,0\n2,1\n")
    definition = {"Parameters": [{"Name": "Data", "Type": "String", "DefaultValue": "dataset/none"}],
                  "Steps": [{"Name": "T", "Type": "Training", "Arguments": {"algorithm": "linear-learner", "target": "y",
                                                                          "channels": {"train": {"Get": "Parameters.Data"}}}}]}  # fmt: skip
    assert client.post("/pipelines", json={"name": "smuggle", "definition": definition}).status_code == 200
    ex = client.post("/pipelines/smuggle/executions", json={"parameters": {"Data": str(secret)}}).json()
    done = ws.pipelines.wait(ex["id"], timeout=60)
    assert done.status == "Failed" and "channels.train" in done.failure_reason and "allowed_data_roots" in done.failure_reason
    assert ws.jobs.list() == []
    # the same definition started from the SDK (local access) reads the file
    local = ws.pipelines.start("smuggle", {"Data": str(secret)})
    assert local.origin == "network"  # defined over the network: its executions keep the network's access
