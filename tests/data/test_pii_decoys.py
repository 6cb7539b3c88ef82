"""PII detection on generated columns with known ground truth, ingested through the CSV path.

Decoy columns (reference numbers, order ids, postal codes, timestamps in text) must produce no
finding; PII columns (phones in many formats, card numbers with spaces or as integers, SSNs stored
as integers that lost their leading zeros) must be found in every row. Ingestion must keep
identifiers as the text they were in the file.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from forgeml.core.workspace import Workspace
from forgeml.data import read_source
from forgeml.data._pii_detect import find_entities, luhn_ok

ROWS = 400


def _digits(rng: random.Random, n: int, first: str = "0123456789") -> str:
    return rng.choice(first) + "".join(rng.choice("0123456789") for _ in range(n - 1))


def _not_luhn(rng: random.Random, n: int, first: str = "0123456789") -> str:
    while luhn_ok(number := _digits(rng, n, first)):
        pass
    return number


def _card(rng: random.Random) -> str:
    body = _digits(rng, 15, "45")
    return body + next(d for d in "0123456789" if luhn_ok(body + d))


def _nanp(rng: random.Random) -> tuple[str, str, str]:
    return _digits(rng, 3, "23456789"), _digits(rng, 3, "23456789"), _digits(rng, 4)


def _phone(rng: random.Random, i: int) -> str:
    a, e, x = _nanp(rng)
    return [f"({a}) {e}-{x}", f"{a}-{e}-{x}", f"{a}.{e}.{x}", f"+1 {a} {e} {x}", f"{a}{e}{x}", f"call {a}-{e}-{x} after 5"][i % 6]


def _ssn(rng: random.Random) -> int:
    while True:
        area, group, serial = rng.randrange(1, 900), rng.randrange(1, 100), rng.randrange(1, 10_000)
        if area != 666:
            return int(f"{area:03d}{group:02d}{serial:04d}")


def _spaced(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def make_rows(seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(ROWS):
        card = _card(rng)
        rows.append({
            # decoys: nothing here is PII
            "reference": _not_luhn(rng, 16, "0"),                  # 16 digits, leading 0, not a card
            "ref_spaced": _spaced(_not_luhn(rng, 16)),             # grouped like a card, not one
            "order_id": int(_not_luhn(rng, 15, "123456789")),      # a bare 15-digit integer
            "zip": f"{rng.randrange(0, 100_000):05d}" if i else "02134",
            "epoch": rng.randrange(1_600_000_000, 1_800_000_000),
            "note": f"shipped 2024-0{rng.randrange(1, 10)}-1{rng.randrange(0, 10)} 1{rng.randrange(0, 10)}:{rng.randrange(10, 60)} dock {i}",
            # PII: every row
            "phone": _phone(rng, i),
            "card": [_spaced(card), card, "-".join(card[j : j + 4] for j in range(0, 16, 4))][i % 3],
            "card_int": int(_card(rng)),
            "ssn": _ssn(rng),                                       # stored as an integer: leading zeros gone
        })  # fmt: skip
    return rows


DECOYS = ["reference", "ref_spaced", "order_id", "zip", "epoch", "note"]
TRUTH = {"phone": "PHONE_NUMBER", "card": "CREDIT_CARD", "card_int": "CREDIT_CARD", "ssn": "USA_SSN"}


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    cols = list(rows[0])
    path.write_text(",".join(cols) + "\n" + "".join(",".join(str(r[c]) for c in cols) + "\n" for r in rows))
    return path


def test_decoys_are_not_flagged_and_pii_is_found_in_every_row(ws: Workspace, tmp_path: Path) -> None:
    rows = make_rows()
    ws.datasets.ingest(str(write_csv(tmp_path / "people.csv", rows)), "people")
    report = ws.prep.scan_pii("people")["report"]
    cols = {c["column"]: c for c in report["columns"]}
    false_positives = {name: sum(f["rows"] for f in cols[name]["findings"]) for name in DECOYS}
    assert false_positives == dict.fromkeys(DECOYS, 0)
    found = {name: {f["entity"]: f["rows"] for f in cols[name]["findings"]} for name in TRUTH}
    false_negatives = {name: ROWS - found[name].get(entity, 0) for name, entity in TRUTH.items()}
    wrong_entity = {name: sum(n for e, n in found[name].items() if e != TRUTH[name]) for name in TRUTH}
    assert false_negatives == dict.fromkeys(TRUTH, 0)
    assert wrong_entity == dict.fromkeys(TRUTH, 0)
    assert report["pii_columns"] == list(TRUTH)


def test_identifiers_keep_their_text_through_ingestion(tmp_path: Path) -> None:
    rows = make_rows()
    table = read_source(str(write_csv(tmp_path / "people.csv", rows))).table
    types = {f.name: str(f.type) for f in table.schema}
    assert types["reference"] == types["zip"] == "string"  # leading zeros: text as in the file
    assert types["order_id"] == types["epoch"] == types["ssn"] == "int64"  # plain integers stay numbers
    assert table.column("reference").to_pylist() == [r["reference"] for r in rows]
    assert table.column("zip").to_pylist()[0] == "02134"


@pytest.mark.parametrize(
    ("csv_text", "column_type", "values"),
    [
        ("id\n007\n8\n\n", "string", ["007", "8"]),
        ("id\n1\n-02\nNA\n", "string", ["1", "-02", None]),
        ("id\n12345678901234567890\n1\n", "string", ["12345678901234567890", "1"]),  # beyond int64: not a float
        ("x\n0.5\n10\n", "double", [0.5, 10.0]),  # 0.5 is a number, not an identifier
        ("x\n0\n10\n", "int64", [0, 10]),
    ],
)
def test_type_inference_for_digit_strings(tmp_path: Path, csv_text: str, column_type: str, values: list[Any]) -> None:
    path = tmp_path / "t.csv"
    path.write_text(csv_text)
    table = read_source(str(path)).table
    assert str(table.schema.field(0).type) == column_type and table.column(0).to_pylist() == values


def test_partition_folders_with_leading_zeros_stay_text(tmp_path: Path) -> None:
    for zip_code in ("02134", "10001"):
        (tmp_path / "p" / f"zip={zip_code}").mkdir(parents=True)
        (tmp_path / "p" / f"zip={zip_code}" / "a.csv").write_text("x\n1\n")
    table = read_source(str(tmp_path / "p")).table
    assert sorted(table.column("zip").to_pylist()) == ["02134", "10001"]


@pytest.mark.parametrize(
    ("text", "entities"),
    [
        ("ref 0123 4567 8901 2345 paid", []),  # no phone inside a longer run of digit groups
        ("ref 4111 1111 1111 1112", []),  # a card-shaped number failing Luhn is nothing
        ("order 123456789012345", []),  # a bare 15-digit number is not a phone
        ("at 2024-03-05 14:22", []),  # a date and hour are not a phone
        ("call 617-555-0123 or +44 20 7946 0958", ["PHONE_NUMBER", "PHONE_NUMBER"]),
        ("uk 020 7946 0958", ["PHONE_NUMBER"]),
        ("card 4111 1111 1111 1111", ["CREDIT_CARD"]),
        ("card 0111 1111 1111 1117", []),  # Luhn-valid but no issuer starts with 0
    ],
)
def test_phone_and_card_rules_in_text(text: str, entities: list[str]) -> None:
    assert [e for e, _, _ in find_entities(text)] == entities
