"""Demo stage ``serving``: register and approve the model, deploy and invoke it, batch-score the test set.

Reads ``state["model_dir"]`` (the best model package), ``state.get("best_training_job")``,
``state.get("model_card")`` and ``state.get("evaluation")`` (from the evaluation stage, when it
ran), ``state["test"]`` (held-out dataset record) and ``state.get("id_column")``. Sets
``state["model_version"]`` (``{"group": "loans", "version": N, "ref": "model/loans:N"}``) and
``state["lineage_root"]`` (the model version; the endpoint part moves it to the endpoint).

Shared between two engineers: registry + batch transform (this file's helpers
:func:`register_model` and :func:`batch_transform`), and the endpoint part, which goes at the
marked place in :func:`stage` and may call :func:`model_reference` for what to deploy.
"""

from __future__ import annotations

from typing import Any

GROUP = "loans"


def _scalars(values: dict[str, Any] | None) -> dict[str, float]:
    return {k: float(v) for k, v in (values or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def register_model(ws: Any, state: dict[str, Any], say: Any) -> Any:
    """Register the trained package into group ``loans`` with its metrics and model card; approve it."""
    evaluation = state.get("evaluation") or {}
    card = state.get("model_card")
    job = state.get("best_training_job")
    metadata = {"evaluation": _scalars(evaluation.get("metrics")), "demo": True}
    if job:
        record = ws.registry.register(GROUP, training_job=job, metadata=metadata, model_card=card, by="forgeml-demo")
    else:
        record = ws.registry.register(GROUP, state["model_dir"], metadata=metadata, model_card=card, by="forgeml-demo")
    for ref in (evaluation.get("ref"), (card or {}).get("ref")):
        if ref:
            ws.lineage.record(ref, record.ref, "evaluated")
    auc = metadata["evaluation"].get("auc") or metadata["evaluation"].get("roc_auc")
    reason = f"demo: test AUC {auc:.3f}" if auc is not None else "demo: evaluation passed"
    issues = state.get("rule_issues") or {}
    if issues:  # said plainly, and recorded with the approval: it is approved on the held-out evaluation
        reason += (f"; approved although debugger rule(s) {', '.join(issues)} found issues on the training job: "
                   "the demo approves on the held-out test evaluation, which those train/validation "
                   "checks do not change; review them before approving a real model")  # fmt: skip
    record = ws.registry.approve(GROUP, record.version, by="forgeml-demo", reason=reason)
    ws.registry.set_alias(GROUP, "champion", record.version, by="forgeml-demo")
    say(f"registered [bold]{record.ref}[/bold] ({record.spec['algorithm']}), {record.status} as 'champion' ({reason})")
    return record


def model_reference(state: dict[str, Any]) -> str:
    """``GROUP:VERSION`` of the registered model (what an endpoint or a transform job takes)."""
    mv = state["model_version"]
    return f"{mv['group']}:{mv['version']}"


def batch_transform(ws: Any, state: dict[str, Any], say: Any) -> dict[str, Any]:
    """Score ``state["test"]`` with a batch transform job; report rows/s."""
    test = state["test"]
    columns = [c["name"] for c in test.data.get("schema", [])]
    id_column = state.get("id_column")
    output_filter = f"$['{id_column}','SageMakerOutput']" if id_column and id_column in columns else "$"
    job = ws.transforms.create(
        model_reference(state), dataset=f"{test.name}:{test.version}", content_type="application/jsonlines",
        split_type="Line", batch_strategy="MultiRecord", assemble_with="Line", join_source="Input",
        output_filter=output_filter if len(output_filter) <= 63 else "$", max_concurrent_transforms=1,
        wait=True, timeout=300,
    )  # fmt: skip
    info = ws.transforms.describe(job.name)
    report = ws.transforms.report(job.name) or {}
    rows = int(report.get("records", 0))
    seconds = float(report.get("seconds", 0.0)) or 1e-9
    result = {"job": job.name, "status": job.status, "rows": rows, "rows_per_second": round(rows / seconds, 1),
              "output": info["files"][0]["output"] if info["files"] else None}  # fmt: skip
    say(f"batch transform [bold]{job.name}[/bold]: {rows} rows of {test.ref} in {seconds:.2f}s ({result['rows_per_second']} rows/s)")
    return result


def stage(ws: Any, state: dict[str, Any], say: Any) -> None:
    record = register_model(ws, state, say)
    state["model_version"] = {"group": GROUP, "version": record.version, "ref": record.ref}
    state["lineage_root"] = record.ref
    state["summary"]["registry"] = {"model": record.ref, "approval": record.status, "alias": "champion",
                                    "approval_reason": record.data.get("approval", {}).get("reason")}  # fmt: skip

    # --- endpoint: deploy and invoke (serving engineer) ---
    from forgeml.serving._demo import deploy_and_invoke

    state["summary"]["endpoint"] = deploy_and_invoke(ws, state, say, model_reference(state))

    state["summary"]["batch_transform"] = batch_transform(ws, state, say)
