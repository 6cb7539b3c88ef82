"""A processing step makes a dataset, a training job (built-in) trains on it, a condition on its
final metric gates a RegisterModel step with an approval status."""

from __future__ import annotations

from sklearn.metrics import accuracy_score

from forgeml.pipelines import (
    ConditionGreaterThanOrEqualTo,
    ConditionStep,
    FailStep,
    ParameterInteger,
    ParameterString,
    Pipeline,
    ProcessingStep,
    RegisterModelStep,
    TrainingStep,
    TransformStep,
)
from tests.pipelines import _lib


def test_train_gate_register(ws) -> None:
    rows = ParameterInteger("Rows", 300)
    approval = ParameterString("Approval", "Approved", enum_values=["Approved", "PendingManualApproval"])
    make = ProcessingStep("Make", _lib.make_loans, arguments={"n": rows, "seed": 7})
    data = make.properties.Outputs["train"]
    train = TrainingStep("Train", algorithm="random-forest", target="y", channels={"train": data, "validation": data},
                         hyperparameters={"num_trees": 20})  # fmt: skip
    register = RegisterModelStep("Register", model_package_group_name="loans", training_job=train.properties.TrainingJobName,
                                 approval_status=approval)  # fmt: skip
    score = TransformStep("Score", model=register.properties.ModelPackageArn, dataset=data)
    gate = ConditionStep("Gate", conditions=[ConditionGreaterThanOrEqualTo(train.properties.FinalMetricDataList["validation:accuracy"].Value, 0.6)],
                         if_steps=[register, score], else_steps=[FailStep("TooWeak", error_message="accuracy too low")])  # fmt: skip
    ws.pipelines.create(Pipeline("train-reg", parameters=[rows, approval], steps=[make, train, gate]))
    ex = ws.pipelines.run("train-reg", timeout=300)
    assert ex.status == "Succeeded", ex.failure_reason
    steps = {s.step: s for s in ws.pipelines.steps(ex.id)}
    assert steps["Train"].job and ws.jobs.get(steps["Train"].job).kind == "training"
    assert steps["Register"].properties["ModelPackageArn"] == "model/loans:1"
    version = ws.registry.get("loans", 1)
    assert version.status == "Approved"
    # the metric the condition read equals an independent computation on the registered model
    frame = ws.datasets.read(steps["Make"].properties["Outputs"]["train"])
    predicted = ws.registry.load("loans", 1).predict(frame)
    metric = {m["MetricName"]: m["Value"] for m in steps["Train"].properties["FinalMetricDataList"]}["validation:accuracy"]
    label = predicted["predicted_label"] if "predicted_label" in predicted else predicted.iloc[:, 0]
    assert abs(metric - accuracy_score(frame["y"], label.astype(int))) < 1e-9
    assert steps["Score"].properties["TransformOutput"]["Records"] == 300
    assert ws.jobs.get(steps["Score"].job).kind == "transform"
    # lineage: the dataset the processing step made -> training job -> model
    down = str(ws.lineage.downstream(steps["Make"].properties["Outputs"]["train"]).to_dict())
    assert f"job/{steps['Train'].job}" in down
    register_node = f"pipeline/train-reg/execution/{ex.id}/step/Register"
    assert {(e.src, e.dst) for e in ws.metadata.list_edges(dst=register_node)} >= {
        (ex.ref, register_node), (f"job/{steps['Train'].job}", register_node)}
    assert (register_node, "model/loans:1") in {(e.src, e.dst) for e in ws.metadata.list_edges(src=register_node)}
