"""Every parser of venue payloads, fed arbitrary JSON: only the declared ParseError may escape."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ParseError
from monitor.sources import coingecko, coinglass
from monitor.sources import venue_parsers as vp

SETTINGS = settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**16, 10**16), st.floats(allow_nan=True),
                    st.text(max_size=4), st.sampled_from(["1795608000000", "1795608000", "0.5", "-1", "1e309", ""]))
KEYS = ["timestamp", "fundingRate", "openInterestAmount", "openInterestValue", "longShortRatio", "time",
        "open_interest_usd", "open_interest", "long_liq_usd", "short_liq_usd", "lsr_account", "lsr_taker",
        "top_lsr_size", "details", "ts", "sz", "bkPx", "posSide", "side", "code", "data", "close",
        "aggregated_long_liquidation_usd", "aggregated_short_liquidation_usd", "global_account_long_short_ratio",
        "prices", "market_caps", "total_volumes"]
keys = st.sampled_from([*KEYS, "x"])
# shallow shapes like the real payloads (list of objects / arrays, envelopes): far cheaper than st.recursive
flat_rows = st.one_of(st.dictionaries(keys, scalars, max_size=6), st.lists(scalars, max_size=6))
row_values = st.one_of(scalars, st.lists(flat_rows, max_size=2))
rows = st.one_of(st.dictionaries(keys, row_values, max_size=6), st.lists(scalars, max_size=6))
json_values = st.one_of(scalars, st.lists(rows, max_size=3), st.dictionaries(keys, st.lists(rows, max_size=2), max_size=4))


def only_parse_error(fn, payload):
    try:
        fn(payload)
    except ParseError:
        pass


@SETTINGS
@given(json_values)
def test_funding_parser_raises_only_parse_error(payload):
    def run(p):
        vp.funding_records(vp.funding_points(p, "x"), "x", "T", "T/USDT:USDT")

    only_parse_error(run, payload)


@SETTINGS
@given(json_values)
def test_candle_parser_raises_only_parse_error(payload):
    only_parse_error(lambda p: vp.candle_records(p, "x", "T", close_metric="a", volume_metric="b", tf_ms=1,
                                                 now_ms=2 * 10**12, volume_multiplier=10.0), payload)


@SETTINGS
@given(json_values)
def test_oi_and_ratio_parsers_raise_only_parse_error(payload):
    only_parse_error(lambda p: vp.oi_records(p, "x", "T", prices={0: 1.0}), payload)
    only_parse_error(lambda p: vp.ratio_records(p, "x", "T", field="longShortRatio", metric="r", what="r"), payload)


@SETTINGS
@given(json_values)
def test_gate_and_okx_raw_parsers_raise_only_parse_error(payload):
    only_parse_error(lambda p: vp.gate_stats_records(p, "x", "T", quanto=10.0), payload)
    only_parse_error(lambda p: vp.okx_liquidation_records(p, "x", "T", ct_val=10.0, since_ms=0), payload)
    only_parse_error(lambda p: vp.okx_pair_records(p, "x", "T", metric="r", what="r"), payload)
    only_parse_error(lambda p: vp.okx_taker_records(p, "x", "T"), payload)


@SETTINGS
@given(json_values)
def test_published_funding_terms_parsers_raise_only_parse_error(payload):
    only_parse_error(lambda p: vp.binance_funding_terms(p, "AIAUSDT", "x"), payload)
    only_parse_error(lambda p: vp.bybit_funding_terms(p, "AIAUSDT", "x"), payload)
    only_parse_error(lambda p: vp.okx_funding_terms(p, "x"), payload)
    only_parse_error(lambda p: vp.gate_funding_terms(p, "x"), payload)


@SETTINGS
@given(json_values)
def test_coinglass_and_coingecko_parsers_raise_only_parse_error(payload):
    def glass(p):
        rows = coinglass.unwrap(p, "coinglass", "COINGLASS_API_KEY")
        coinglass.ohlc_records(rows, "coinglass", "T", "oi_usd", bar_ms=3_600_000, now_ms=4_102_444_800_000)
        coinglass.liquidation_records(rows, "coinglass", "T")
        coinglass.ratio_records(rows, "coinglass", "T")

    from monitor.errors import PermanentSourceError

    try:
        glass(payload)
    except (ParseError, PermanentSourceError):  # a non-zero envelope code is the declared error there
        pass
    only_parse_error(lambda p: coingecko.parse_market_chart(p, "coingecko", "T"), payload)


@SETTINGS
@given(st.lists(st.integers(0, 10**13), max_size=30))
def test_interval_derivation_never_raises_and_yields_known_intervals(times):
    out = vp.derive_intervals(sorted(set(times)))
    assert len(out) == len(set(times))
    assert all(h is None or h in vp.FUNDING_INTERVALS_H for h in out)
