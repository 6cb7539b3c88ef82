"""PII detection: entities in whole columns and inside free text, with checksums where they exist.

Entities (DataBrew-style names): ``EMAIL``, ``PHONE_NUMBER``, ``CREDIT_CARD`` (Luhn-checked,
issuer digit 2-6), ``USA_SSN`` (area/group/serial rules), ``IP_ADDRESS`` (v4 and v6, parsed),
``IBAN`` (ISO 13616 mod-97 checksum), ``DATE_OF_BIRTH`` (by column-name hint: a date-like column
called dob, birth...).

Reference numbers are not phone numbers: a phone match must stand alone (not be part of a longer
run of digit groups such as ``0123 4567 8901 2345``, not be a time's hours), and its digits must
make a dialable number: with ``+`` 10-15 digits (E.164); with a national trunk ``0`` 10-12 digits
(``00`` international, written in groups: 12-15); otherwise a North American number
(``NXX NXX XXXX``, optionally after ``1``). A bare run of digits counts only as a North American
number or a 10-11 digit national one starting with a single 0. A bare 15-digit integer is none.

Integer columns are numbers, not text: they are scanned for ``CREDIT_CARD`` only (a card number
stored as an integer keeps every digit, none starts with 0), and for ``USA_SSN`` when the column
is named like one (``ssn``, ``social_security_number``), with the leading zeros an integer lost
restored to nine digits. A text column so named also matches SSNs written without dashes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from typing import Any

ENTITIES = ("EMAIL", "PHONE_NUMBER", "CREDIT_CARD", "USA_SSN", "IP_ADDRESS", "IBAN", "DATE_OF_BIRTH")
DOB_HINT = re.compile(r"(^|_|\b)(dob|birth|birthday|birthdate|date_?of_?birth|born)($|_|\b)", re.IGNORECASE)
SSN_HINT = re.compile(r"(^|_|\b)(ssn|social_?security(_?(number|no|num))?)($|_|\b)", re.IGNORECASE)
_NANP = re.compile(r"1?[2-9]\d\d[2-9]\d{6}")
_BARE_SSN = re.compile(r"(?P<a>\d{3})[ .\-]?(?P<g>\d{2})[ .\-]?(?P<s>\d{4})")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 == 1."""
    s = text.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1
    except ValueError:
        return False


def card_ok(digits: str) -> bool:
    """A payment card number: 13-19 digits, a major issuer's first digit (2-6), Luhn-valid."""
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def _cc(m: re.Match[str]) -> bool:
    return card_ok(re.sub(r"\D", "", m.group(0)))


def ssn_ok(area: str, group: str, serial: str) -> bool:
    """The SSA's rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


def _ssn(m: re.Match[str]) -> bool:
    return ssn_ok(m.group("a"), m.group("g"), m.group("s"))


def _ip(m: re.Match[str]) -> bool:
    try:
        ipaddress.ip_address(m.group(0))
    except ValueError:
        return False
    return True


def _phone(m: re.Match[str]) -> bool:
    text = m.group(0)
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        return 10 <= len(digits) <= 15
    if text.isdigit() and digits.startswith("0"):  # bare digits: one trunk 0, a national number
        return not digits.startswith("00") and 10 <= len(digits) <= 11
    if digits.startswith("00"):
        return 12 <= len(digits) <= 15
    if digits.startswith("0"):
        return 10 <= len(digits) <= 12
    return _NANP.fullmatch(digits) is not None


def _iban(m: re.Match[str]) -> bool:
    return iban_ok(m.group(0))


# (entity, pattern, validator); order matters: earlier entities claim their spans first.
PATTERNS: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], bool] | None]] = [
    ("EMAIL", re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b"), None),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"), _iban),
    ("CREDIT_CARD", re.compile(r"\b\d(?:[ -]?\d){12,18}\b"), _cc),
    ("USA_SSN", re.compile(r"\b(?P<a>\d{3})-(?P<g>\d{2})-(?P<s>\d{4})\b"), _ssn),
    ("IP_ADDRESS", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}\b|::1\b"), _ip),
    ("PHONE_NUMBER", re.compile(
        r"(?<![\w+])(?<!\d[ .\-])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)|\d{2,4})(?:[ .\-]?\d{2,4}){2,3}\b(?![ .\-]?\d|:\d)"
    ), _phone),
]


def find_entities(text: str, entities: tuple[str, ...] | list[str] | None = None) -> list[tuple[str, int, int]]:
    """``(entity, start, end)`` spans of PII in ``text``, non-overlapping, in order."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[str, int, int]] = []
    for entity, pattern, check in PATTERNS:
        if entities is not None and entity not in entities:
            continue
        for m in pattern.finditer(text):
            start, end = m.span()
            if any(start < e and s < end for s, e in taken):
                continue
            if check is None or check(m):
                taken.append((start, end))
                found.append((entity, start, end))
    return sorted(found, key=lambda f: f[1])


def _is_date(value: Any) -> bool:
    import datetime as dt

    if isinstance(value, dt.date):
        return True
    return isinstance(value, str) and bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T].*)?|\d{1,2}/\d{1,2}/\d{2,4}", value.strip()))


class ColumnScan:
    """Streaming findings for one column: feed batches of values, then read :meth:`result`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.counts: dict[str, int] = {}
        self.whole: dict[str, int] = {}
        self.examples: dict[str, str] = {}
        self.nonnull = 0
        self.dob_hint = bool(DOB_HINT.search(name))
        self.ssn_hint = bool(SSN_HINT.search(name))
        self.dates = 0

    def _whole(self, entity: str, text: str) -> None:
        self.counts[entity] = self.counts.get(entity, 0) + 1
        self.whole[entity] = self.whole.get(entity, 0) + 1
        self.examples.setdefault(entity, _mask_example(text))

    def _feed_int(self, value: int) -> None:
        if self.ssn_hint and 0 < value < 10**9:
            text = f"{value:09d}"  # the leading zeros an integer column lost
            if ssn_ok(text[:3], text[3:5], text[5:]):
                self._whole("USA_SSN", text)
        elif value > 0 and card_ok(str(value)):
            self._whole("CREDIT_CARD", str(value))

    def feed(self, values: Iterator[Any] | list[Any]) -> None:
        for value in values:
            if value is None:
                continue
            self.nonnull += 1
            if self.dob_hint and _is_date(value):
                self.dates += 1
                continue
            if isinstance(value, int) and not isinstance(value, bool):
                self._feed_int(value)
                continue
            if not isinstance(value, str):
                continue
            if self.ssn_hint and (m := _BARE_SSN.fullmatch(value.strip())) and ssn_ok(m["a"], m["g"], m["s"]):
                self._whole("USA_SSN", value.strip())
                continue
            seen = set()
            for entity, start, end in find_entities(value):
                if entity in seen:
                    continue
                seen.add(entity)
                self.counts[entity] = self.counts.get(entity, 0) + 1
                if start == 0 and end == len(value.strip()):
                    self.whole[entity] = self.whole.get(entity, 0) + 1
                self.examples.setdefault(entity, _mask_example(value[start:end]))

    def result(self, rows: int, scanned: bool = True) -> dict[str, Any]:
        counts, whole = dict(self.counts), dict(self.whole)
        if self.dob_hint and self.dates:
            counts["DATE_OF_BIRTH"] = whole["DATE_OF_BIRTH"] = self.dates
        findings = [
            {
                "entity": e, "rows": n, "fraction": n / self.nonnull if self.nonnull else 0.0,
                "whole_value": whole.get(e, 0) >= 0.8 * n, "example": self.examples.get(e, "(date)"),
            }
            for e, n in sorted(counts.items(), key=lambda kv: -kv[1])
        ]  # fmt: skip
        return {"column": self.name, "rows": rows, "scanned": scanned, "non_null": self.nonnull, "findings": findings, "pii": bool(findings)}


def scan_values(name: str, values: Iterator[Any] | list[Any], rows: int) -> dict[str, Any]:
    """Findings for one column: rows per entity, whether the column is wholly PII, masked examples."""
    col = ColumnScan(name)
    col.feed(values)
    return col.result(rows)


def _mask_example(text: str) -> str:
    keep = 2 if len(text) > 6 else 0
    return "*" * (len(text) - keep) + text[len(text) - keep :]


__all__ = [
    "DOB_HINT", "ENTITIES", "PATTERNS", "SSN_HINT", "ColumnScan", "card_ok", "find_entities", "iban_ok", "luhn_ok", "scan_values", "ssn_ok",
]  # fmt: skip
