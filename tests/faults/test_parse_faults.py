"""Rows H7 and H14 at parser level: bad records raise ParseError (and nothing else); unknown fields are
ignored. Uses the shared parse helpers every source builds on (monitor.sources.base)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.sources.base import make_frame, require, to_float

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                         st.text(max_size=12), st.sampled_from(["NaN", "Infinity", "-inf", "1e309", "", " ", "0x1A"]))
JSON = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                                             inner, max_size=3),
                    max_leaves=8)


def parse_volume_rows(payload: Any, token: str = "AIA") -> pd.DataFrame:
    """A parser in the house style: every record validated before any row is kept (all-or-nothing)."""
    rows = require(payload, "data", where="volume response")
    if not isinstance(rows, list):
        raise ParseError("volume response: 'data' is not a list")
    records = []
    for i, row in enumerate(rows):
        ts = int(to_float(require(row, "ts", where=f"data[{i}]"), f"data[{i}].ts", allow_negative=False))
        volume = to_float(require(row, "volume", where=f"data[{i}]"), f"data[{i}].volume", allow_negative=False)
        records.append((ts, "fake", token, "volume_usd", volume))
    return make_frame(records)


GOOD = {"data": [{"ts": 1717200000000, "volume": "1250.5"}, {"ts": 1717203600000, "volume": "990"}]}


@pytest.mark.parametrize("value, problem", [(None, "expected a number"), ("", "expected a number"),
                                            (True, "expected a number"), ("NaN", "non-finite"),
                                            ("1e309", "non-finite"), ("-Infinity", "non-finite"),
                                            ("12abc", "expected a number"), ({"v": 1}, "expected a number")])
def test_h7_bad_numbers_are_parse_errors_naming_the_field(value, problem):
    with pytest.raises(ParseError, match=problem) as info:
        to_float(value, "data[3].volume")
    assert "data[3].volume" in str(info.value)


def test_h7_an_int_beyond_float_range_is_a_parse_error():
    with pytest.raises(ParseError):
        to_float(10**400, "data[0].volume")


def test_h7_negative_volume_is_refused_and_the_batch_is_all_or_nothing():
    payload = {"data": [*GOOD["data"], {"ts": 1717207200000, "volume": "-5"}]}
    with pytest.raises(ParseError, match=r"data\[2\].volume: negative value"):
        parse_volume_rows(payload)
    assert len(parse_volume_rows(GOOD)) == 2


@pytest.mark.parametrize("payload", [[], {"data": None}, {"data": {"ts": 1}}, {"rows": []}, "html", None,
                                     {"data": [{"ts": 1717200000000}]}, {"data": [None]}])
def test_h7_wrong_shape_is_a_parse_error(payload):
    with pytest.raises(ParseError):
        parse_volume_rows(payload)


@settings(max_examples=1000, deadline=None)
@given(value=st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=2)))
def test_h7_to_float_lets_only_parse_error_escape(value):
    try:
        number = to_float(value, "field")
    except ParseError:
        return
    assert math.isfinite(number)


@settings(max_examples=300, deadline=None)
@given(payload=JSON)
def test_h7_arbitrary_payloads_raise_only_parse_error(payload):
    try:
        frame = parse_volume_rows(payload)
    except ParseError:
        return
    assert frame["value"].map(math.isfinite).all() and (frame["value"] >= 0).all()


@settings(max_examples=100, deadline=None)
@given(extra=st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k not in ("ts", "volume")),
                             JSON_SCALARS, max_size=4),
       top=st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k != "data"), JSON_SCALARS, max_size=3))
def test_h14_unknown_fields_added_upstream_are_ignored(extra, top):
    drifted = {**top, "data": [{**row, **extra} for row in GOOD["data"]]}
    pd.testing.assert_frame_equal(parse_volume_rows(drifted), parse_volume_rows(GOOD))


@pytest.mark.parametrize("missing", ["ts", "volume"])
def test_h14_a_required_field_dropped_upstream_takes_the_h7_path(missing):
    drifted = {"data": [{k: v for k, v in row.items() if k != missing} for row in GOOD["data"]]}
    with pytest.raises(ParseError, match=f"missing field '{missing}'"):
        parse_volume_rows(drifted)
