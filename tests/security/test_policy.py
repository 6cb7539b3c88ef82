"""IAM evaluation rules against hand-written cases (issue 14, item 2): default deny, explicit
deny wins, wildcards, Not* elements and conditions, each case a row of the table."""

from __future__ import annotations

from typing import Any

import pytest

from forgeml.errors import ValidationError
from forgeml.security import MANAGED, evaluate, parse_policy


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


HOME = {"forgeml:SourceIp": "10.1.2.3", "forgeml:SecureTransport": "true", "forgeml:PrincipalName": "ana"}

# (case, statements, action, resource, context, allowed)
CASES: list[tuple[str, list[dict[str, Any]], str, str, dict[str, Any], bool]] = [
    ("no statement is an implicit deny", [], "datasets:Read", "dataset/loans", {}, False),
    ("an allow that does not match denies", [allow("datasets:Read", "dataset/cars")], "datasets:Read", "dataset/loans", {}, False),
    ("exact allow", [allow("datasets:Read", "dataset/loans")], "datasets:Read", "dataset/loans", {}, True),
    ("explicit deny wins over allow", [allow("*"), deny("models:Approve")], "models:Approve", "model/loans:1", {}, False),
    ("deny order does not matter", [deny("models:Approve"), allow("*")], "models:Approve", "model/loans:1", {}, False),
    ("deny of another action leaves the allow", [allow("*"), deny("models:Approve")], "models:Register", "model/loans", {}, True),
    ("service wildcard", [allow("monitoring:*")], "monitoring:Create", "monitoring-baseline/b", {}, True),
    ("wildcard inside an action", [allow("*:Read")], "datasets:Read", "dataset/x", {}, True),
    ("wildcard inside an action, other verb", [allow("*:Read")], "datasets:Write", "dataset/x", {}, False),
    ("? matches one character", [allow("jobs:Sto?")], "jobs:Stop", "job/j", {}, True),
    ("actions are case-insensitive", [allow("DATASETS:read")], "datasets:Read", "dataset/x", {}, True),
    ("resource prefix wildcard", [allow("datasets:*", "dataset/loans*")], "datasets:Write", "dataset/loans-2024", {}, True),
    ("resource wildcard spans : and /", [allow("models:*", "model/loans*")], "models:Approve", "model/loans:3", {}, True),
    ("model versions pattern", [allow("models:Approve", "model/loans:*")], "models:Approve", "model/loans:3", {}, True),
    ("model versions pattern, other model", [allow("models:Approve", "model/loans:*")], "models:Approve", "model/cars:3", {}, False),
    ("resources are case-sensitive", [allow("datasets:Read", "dataset/Loans")], "datasets:Read", "dataset/loans", {}, False),
    ("a list of actions is ORed", [allow(["endpoints:Invoke", "endpoints:Read"], "endpoint/loans")], "endpoints:Invoke", "endpoint/loans", {}, True),
    ("NotAction allows every other action", [{"Effect": "Allow", "NotAction": "models:Approve", "Resource": "*"}], "models:Register", "model/m", {}, True),
    ("NotAction does not allow the named one", [{"Effect": "Allow", "NotAction": "models:Approve", "Resource": "*"}], "models:Approve", "model/m:1", {}, False),
    ("Deny with NotResource denies the rest", [allow("*"), {"Effect": "Deny", "Action": "*", "NotResource": "dataset/public*"}], "datasets:Read", "dataset/secret", {}, False),
    ("Deny with NotResource spares the named", [allow("*"), {"Effect": "Deny", "Action": "*", "NotResource": "dataset/public*"}], "datasets:Read", "dataset/public-a", {}, True),
    ("IpAddress inside the network", [allow("*", Condition={"IpAddress": {"forgeml:SourceIp": "10.0.0.0/8"}})], "datasets:Read", "dataset/x", HOME, True),
    ("IpAddress outside the network", [allow("*", Condition={"IpAddress": {"forgeml:SourceIp": "192.168.0.0/16"}})], "datasets:Read", "dataset/x", HOME, False),
    ("IpAddress bare address is /32", [allow("*", Condition={"IpAddress": {"forgeml:SourceIp": "10.1.2.3"}})], "datasets:Read", "dataset/x", HOME, True),
    ("IpAddress with the key absent is false", [allow("*", Condition={"IpAddress": {"forgeml:SourceIp": "10.0.0.0/8"}})], "datasets:Read", "dataset/x", {}, False),
    ("NotIpAddress deny with the key absent applies", [allow("*"), deny("*", Condition={"NotIpAddress": {"forgeml:SourceIp": "10.0.0.0/8"}})], "datasets:Read", "dataset/x", {}, False),
    ("NotIpAddress deny from inside does not apply", [allow("*"), deny("*", Condition={"NotIpAddress": {"forgeml:SourceIp": "10.0.0.0/8"}})], "datasets:Read", "dataset/x", HOME, True),
    ("Bool SecureTransport true", [allow("*", Condition={"Bool": {"forgeml:SecureTransport": True}})], "datasets:Read", "dataset/x", HOME, True),
    ("Bool deny over plain HTTP", [allow("*"), deny("*", Condition={"Bool": {"forgeml:SecureTransport": "false"}})], "datasets:Read", "dataset/x", {"forgeml:SecureTransport": "false"}, False),
    ("StringEquals on the principal", [allow("*", Condition={"StringEquals": {"forgeml:PrincipalName": "ana"}})], "jobs:Read", "job/j", HOME, True),
    ("StringEquals is case-sensitive", [allow("*", Condition={"StringEquals": {"forgeml:PrincipalName": "Ana"}})], "jobs:Read", "job/j", HOME, False),
    ("condition keys are case-insensitive", [allow("*", Condition={"StringEquals": {"FORGEML:principalname": "ana"}})], "jobs:Read", "job/j", HOME, True),
    ("several values of a key are ORed", [allow("*", Condition={"StringEquals": {"forgeml:PrincipalName": ["bo", "ana"]}})], "jobs:Read", "job/j", HOME, True),
    ("several keys are ANDed", [allow("*", Condition={"StringEquals": {"forgeml:PrincipalName": "ana"}, "IpAddress": {"forgeml:SourceIp": "192.168.0.0/16"}})], "jobs:Read", "job/j", HOME, False),
    ("StringLike with *", [allow("*", Condition={"StringLike": {"forgeml:PrincipalName": "a*"}})], "jobs:Read", "job/j", HOME, True),
    ("StringNotEquals values are ANDed", [allow("*", Condition={"StringNotEquals": {"forgeml:PrincipalName": ["bo", "ana"]}})], "jobs:Read", "job/j", HOME, False),
    ("StringNotEquals with the key absent is true", [allow("*", Condition={"StringNotEquals": {"forgeml:PrincipalName": "bo"}})], "jobs:Read", "job/j", {}, True),
    ("StringNotLike excludes matches", [allow("*", Condition={"StringNotLike": {"forgeml:PrincipalName": "a*"}})], "jobs:Read", "job/j", HOME, False),
]


@pytest.mark.parametrize(("case", "statements", "action", "resource", "context", "allowed"), CASES, ids=[c[0] for c in CASES])
def test_iam_evaluation(case: str, statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, Any], allowed: bool) -> None:
    named = {"p": parse_policy({"Version": "2012-10-17", "Statement": statements}, "p")} if statements else {}
    decision = evaluate(named, action, resource, context)
    assert decision.allowed is allowed, f"{case}: {decision.reason}"


def test_a_decision_names_the_deciding_statement() -> None:
    named = {"team": parse_policy({"Statement": [allow("*"), {**deny("models:Approve"), "Sid": "NoApprove"}]}, "team")}
    decision = evaluate(named, "models:Approve", "model/m:1")
    assert decision.matched == ["team:NoApprove"]
    assert "explicitly denied by team:NoApprove" in decision.reason
    assert "implicit deny" in evaluate({}, "models:Approve", "model/m:1").reason


PERSONAS: list[tuple[str, str, str, bool]] = [
    ("ReadOnly", "datasets:Read", "dataset/loans", True),
    ("ReadOnly", "datasets:Write", "dataset/loans", False),
    ("ReadOnly", "endpoints:Invoke", "endpoint/loans", False),
    ("DataScientist", "datasets:Write", "dataset/loans", True),
    ("DataScientist", "training:Create", "training-job/*", True),
    ("DataScientist", "experiments:Write", "run/e/r", True),
    ("DataScientist", "models:Register", "model/loans", True),
    ("DataScientist", "models:Approve", "model/loans:1", False),
    ("DataScientist", "endpoints:Create", "endpoint/*", False),
    ("MLOps", "models:Approve", "model/loans:1", True),
    ("MLOps", "endpoints:Create", "endpoint/*", True),
    ("MLOps", "monitoring:Create", "monitoring-baseline/*", True),
    ("MLOps", "training:Create", "training-job/*", False),
    ("MLOps", "datasets:Write", "dataset/loans", False),
    ("Admin", "models:Approve", "model/loans:1", True),
    ("Admin", "anything:AtAll", "x/y", True),
]


@pytest.mark.parametrize(("persona", "action", "resource", "allowed"), PERSONAS)
def test_managed_personas(persona: str, action: str, resource: str, allowed: bool) -> None:
    assert evaluate({persona: parse_policy(MANAGED[persona], persona)}, action, resource).allowed is allowed


@pytest.mark.parametrize(("document", "message"), [
    ([], "a policy is an object with a Statement list"),
    ({"Statement": []}, "Statement must be"),
    ({"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}, "Statement[0].Effect: 'allow' is not 'Allow' or 'Deny'"),
    ({"Statement": [{"Effect": "Allow", "Resource": "*"}]}, "exactly one of Action and NotAction"),
    ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "x"}]}, "exactly one of Resource and NotResource"),
    ({"Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}, "Statement[0].Action: expected a non-empty string"),
    ({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}]}, "unknown element 'Principal'"),
    ({"Statement": [allow("*", Condition={"DateEquals": {"k": "v"}})]}, "unknown operator 'DateEquals'"),
    ({"Statement": [allow("*", Condition={"IpAddress": {"forgeml:SourceIp": "10.0.0.300/8"}})]}, "'10.0.0.300/8' is not an address or CIDR"),
])  # fmt: skip
def test_bad_policies_are_refused_naming_the_element(document: Any, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_policy(document, "team")
    assert info.value.message.startswith("team")
    assert message in info.value.message
