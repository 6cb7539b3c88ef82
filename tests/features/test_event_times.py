"""Event-time parsing: every accepted form lands on the same UTC microsecond (Hypothesis)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forgeml.errors import ValidationError
from forgeml.features._records import parse_event_times

moments = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2100, 1, 1),
                       timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)),
                                                  dt.timezone(dt.timedelta(hours=-8))]))  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(moments)
def test_iso_text_datetime_and_epoch_agree(moment: dt.datetime) -> None:
    expected = pd.Timestamp(moment).tz_convert("UTC")
    as_text = parse_event_times(pd.Series([moment.isoformat()], dtype="object"), "t").iloc[0]
    as_datetime = parse_event_times(pd.Series([moment]), "t").iloc[0]
    epoch = (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) / dt.timedelta(microseconds=1) / 1e6
    as_epoch = parse_event_times(pd.Series([epoch]), "t").iloc[0]
    assert as_text == expected and as_datetime == expected
    assert abs((as_epoch - expected).total_seconds()) < 2e-6


@pytest.mark.parametrize("bad", ["", "2026-13-01", "noon", "2026-01-01T25:00"])
def test_unparseable_text_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="unparseable event time"):
        parse_event_times(pd.Series(["2026-01-01", bad], dtype="object"), "g")


def test_naive_means_utc_and_bools_are_refused() -> None:
    got = parse_event_times(pd.Series([dt.datetime(2026, 1, 1, 12)]), "g").iloc[0]
    assert got.isoformat() == "2026-01-01T12:00:00+00:00"
    with pytest.raises(ValidationError, match="not bool"):
        parse_event_times(pd.Series([True]), "g")
