"""PII detection (checksums, column hints, free text) and protection steps, end to end on a workspace."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeml.core.workspace import Workspace
from forgeml.data._pii import protect, scan, workspace_secret
from forgeml.data._pii_detect import find_entities, iban_ok, luhn_ok
from forgeml.data._prep_service import DataPrepService
from forgeml.errors import ValidationError

KEY, SALT = b"k" * 32, b"s" * 16


@pytest.mark.parametrize(
    ("text", "entity", "found"),
    [
        ("write to jane.doe+x@example.co.uk today", "EMAIL", True),
        ("card 4111 1111 1111 1111", "CREDIT_CARD", True),  # Visa test number, Luhn-valid
        ("card 4111 1111 1111 1112", "CREDIT_CARD", False),  # one digit off: Luhn fails
        ("5500-0000-0000-0004", "CREDIT_CARD", True),
        ("ssn 123-45-6789", "USA_SSN", True),
        ("ssn 666-45-6789", "USA_SSN", False),  # area 666 is never issued
        ("ssn 123-00-6789", "USA_SSN", False),
        ("from 192.168.0.17 ok", "IP_ADDRESS", True),
        ("from 999.168.0.17 ok", "IP_ADDRESS", False),
        ("v6 2001:db8:85a3::8a2e:370:7334", "IP_ADDRESS", True),
        ("iban GB82 WEST 1234 5698 7654 32", "IBAN", True),
        ("iban GB82 WEST 1234 5698 7654 33", "IBAN", False),  # checksum fails
        ("DE89370400440532013000", "IBAN", True),
        ("call (617) 555-0123", "PHONE_NUMBER", True),
        ("call +44 20 7946 0958", "PHONE_NUMBER", True),
        ("version 1.2.3 of 2024", "PHONE_NUMBER", False),
    ],
)
def test_entities_in_free_text(text: str, entity: str, found: bool) -> None:
    assert any(e == entity for e, _, _ in find_entities(text)) is found


def test_checksums_against_known_values() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")
    assert iban_ok("FR1420041010050500013M02606") and not iban_ok("FR1420041010050500013M02607")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=12, max_size=18))
def test_luhn_check_digit_roundtrip(body: list[int]) -> None:
    digits = "".join(map(str, body))
    check = next(d for d in range(10) if luhn_ok(digits + str(d)))
    assert luhn_ok(digits + str(check))
    assert not luhn_ok(digits + str((check + 1) % 10))


@pytest.fixture
def people() -> pd.DataFrame:
    return pd.DataFrame({
        "email": ["ann@example.com", "bob@example.org", None, "ann@example.com"],
        "notes": ["call 617-555-0123", "no pii here", "ssn 123-45-6789 and ann@example.com", None],
        "date_of_birth": ["1980-05-01", "1990-12-31", None, "1975-01-20"],
        "age": [34, 51, 29, 47],
        "amount": [1.5, 2.5, 3.5, 4.5],
    })  # fmt: skip


def test_scan_reports_per_column_findings(people: pd.DataFrame) -> None:
    report = scan(people)
    cols = {c["column"]: c for c in report["columns"]}
    assert report["pii_columns"] == ["email", "notes", "date_of_birth"]
    email = cols["email"]["findings"][0]
    assert (email["entity"], email["rows"], email["whole_value"]) == ("EMAIL", 3, True)
    assert "ann@" not in email["example"]
    notes = {f["entity"]: f for f in cols["notes"]["findings"]}
    assert set(notes) == {"PHONE_NUMBER", "USA_SSN", "EMAIL"} and not notes["EMAIL"]["whole_value"]
    assert cols["date_of_birth"]["findings"][0]["entity"] == "DATE_OF_BIRTH"
    assert not cols["amount"]["pii"] and not cols["amount"]["scanned"]
    assert report["summary"]["EMAIL"] == 4


def test_protection_actions(people: pd.DataFrame) -> None:
    out, report = protect(people, [
        {"column": "email", "action": "tokenize"},
        {"column": "notes", "action": "redact", "entities": ["USA_SSN", "EMAIL"]},
        {"column": "date_of_birth", "action": "generalize", "date_part": "year"},
        {"column": "age", "action": "generalize", "width": 10},
    ], key=KEY, salt=SALT)  # fmt: skip
    expected = "tok_" + hmac.new(KEY, b"ann@example.com", hashlib.sha256).hexdigest()[:32]
    assert out["email"][0] == out["email"][3] == expected  # deterministic: joins still work
    assert out["email"][1] != expected and pd.isna(out["email"][2])
    assert out["notes"].tolist()[:3] == ["call 617-555-0123", "no pii here", "ssn [USA_SSN] and [EMAIL]"]
    assert out["date_of_birth"].tolist() == ["1980", "1990", None, "1975"]
    assert out["age"].tolist() == ["30-39", "50-59", "20-29", "40-49"]
    assert [s["values_changed"] for s in report["steps"]] == [3, 1, 3, 4]
    masked, _ = protect(people, [{"column": "email", "action": "mask", "keep_last": 4}, {"column": "notes", "action": "null"}], key=KEY, salt=SALT)
    assert masked["email"][0] == "*" * 11 + ".com" and masked["notes"].isna().all()
    hashed, _ = protect(people, [{"column": "email", "action": "hash"}], key=KEY, salt=SALT)
    assert hashed["email"][1] == hashlib.sha256(SALT + b"bob@example.org").hexdigest()
    assert people["email"][0] == "ann@example.com"  # input untouched


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"column": "nope", "action": "mask"}, "'nope' not in the data"),
        ({"column": "email", "action": "encrypt"}, "unknown action 'encrypt'"),
        ({"column": "notes", "action": "redact", "entities": ["PASSPORT"]}, "unknown entit"),
        ({"column": "notes", "action": "null", "entities": ["EMAIL"]}, "whole values"),
        ({"column": "email", "action": "mask", "keep": 2}, "unknown key"),
    ],
)
def test_bad_protection_steps(people: pd.DataFrame, step: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        protect(people, [step], key=KEY, salt=SALT)


def test_service_scan_and_protect_on_a_dataset(ws: Workspace, people: pd.DataFrame) -> None:
    ws.datasets.create("people", people)
    svc = DataPrepService(ws)
    found = svc.scan_pii("people")
    assert found["report"]["pii_columns"] == ["email", "notes", "date_of_birth"]
    result = svc.protect_pii("people", output="people-safe")
    safe = ws.datasets.read("people-safe")
    assert result["output"] == "dataset/people-safe:1"
    assert not scan(safe)["pii_columns"]  # nothing left to find
    key = workspace_secret(ws.home, "pii-hmac")
    assert key == workspace_secret(ws.home, "pii-hmac") and len(key) == 32
    assert (ws.home / "secrets" / "pii-hmac.key").stat().st_mode & 0o077 == 0
    assert safe["email"][0] == "tok_" + hmac.new(key, b"ann@example.com", hashlib.sha256).hexdigest()[:32]
    assert "dataset/people:1" in {e.src for e in ws.metadata.list_edges(dst="dataset/people-safe:1")}
