"""Which failures a retry policy catches (the reference's exception types), as pure functions."""

from __future__ import annotations

import pytest

from forgeml.pipelines._driver import Driver
from forgeml.pipelines._kinds import exception_type


@pytest.mark.parametrize(("reason", "kind"), [
    ("StepFault: [Step.THROTTLING] slow down", "Step.THROTTLING"),
    ("StepFault: [SageMaker.RESOURCE_LIMIT] too many", "SageMaker.RESOURCE_LIMIT"),
    ("job process 12 disappeared while InProgress (machine restart or kill)", "SageMaker.JOB_INTERNAL_ERROR"),
    ("job was never started: the process that submitted it exited first", "SageMaker.JOB_INTERNAL_ERROR"),
    ("MemoryError: ", "SageMaker.CAPACITY_ERROR"),
    ("ValueError: no rows", None),
    (None, None),
])  # fmt: skip
def test_failures_map_to_exception_types(reason: str | None, kind: str | None) -> None:
    assert exception_type(reason) == kind


def test_a_policy_overrides_the_default_and_capacity_has_two_spellings() -> None:
    policy = {"ExceptionType": ["SageMaker.JOB_CAPACITY_ERROR", "Step.THROTTLING"], "MaxAttempts": 1}
    step = {"Type": "Processing", "RetryPolicies": [policy]}
    assert Driver._policy(step, "SageMaker.CAPACITY_ERROR") == (policy, 0)
    assert Driver._policy(step, "Step.THROTTLING") == (policy, 0)
    default, index = Driver._policy(step, "Step.SERVICE_FAULT")  # retried by default
    assert index == 1 and default is not None and default["MaxAttempts"] == 5
    assert Driver._policy(step, "SageMaker.RESOURCE_LIMIT") == (None, -1)
    assert Driver._policy(step, None) == (None, -1)
    assert Driver._policy({"Type": "Condition"}, "Step.SERVICE_FAULT") == (None, -1)
