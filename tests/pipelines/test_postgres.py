"""Team mode: executions, leases and callbacks on a real PostgreSQL metadata store."""

from __future__ import annotations

from pathlib import Path

from forgeml.pipelines import CallbackStep, ParameterInteger, Pipeline, ProcessingStep
from forgeml.pipelines._driver import Driver
from tests.pipelines import _lib


def test_pipeline_on_postgresql(postgres_url: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from forgeml.core.workspace import Workspace
    from forgeml.settings import load_settings

    monkeypatch.setenv("FORGEML_DATABASE_URL", postgres_url)  # the job processes open the same store
    ws = Workspace(load_settings(home=str(tmp_path / "ws"), database_url=postgres_url, job_poll_seconds=0.1))
    try:
        n = ParameterInteger("N", 4)
        wait = CallbackStep("Wait", outputs=["ok"])
        add = ProcessingStep("Add", _lib.add, arguments={"a": n, "b": 1}, depends_on=[wait])
        ws.pipelines.create(Pipeline("pg", parameters=[n], steps=[wait, add]))
        ex = ws.pipelines.start("pg", {"N": 6})
        other = Driver(ws)
        other.owner = "elsewhere:1:1"
        assert ws.pipelines.driver.advance(ex).status == "Executing"
        assert other.store.claim(ws.pipelines.execution(ex.id), other.owner) is False  # the lease is held
        ws.pipelines.send_step_success(ws.pipelines.callback_token(ex.id, "Wait"), {"ok": "yes"})
        done = ws.pipelines.wait(ex.id, timeout=120)
        job = next(j for j in ws.jobs.list() if j.name.startswith(f"pl-{ex.id}"))
        assert done.status == "Succeeded", (done.failure_reason, list(ws.jobs.logs(job.name))[-15:])
        steps = {s.step: s for s in ws.pipelines.steps(ex.id)}
        assert steps["Add"].properties["Result"] == {"sum": 7}
    finally:
        ws.close()
