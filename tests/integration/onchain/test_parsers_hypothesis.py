"""Row H7/H14 for the on-chain parsers: arbitrary JSON-ish input never escapes as anything but ParseError
(check_envelope may also answer with the SourceError an Etherscan message stands for)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ParseError, SourceError
from monitor.sources import evm
from monitor.sources.defillama import parse_protocol
from monitor.sources.dune import parse_result, rows_to_events, rows_to_records
from monitor.sources.etherscan import check_envelope, parse_creations
from monitor.sources.github import parse_commit_activity, parse_contributors
from monitor.sources.rpc import classify_rpc_error

FAST = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hexish = st.text(alphabet="0123456789abcdef", max_size=66).map(lambda s: "0x" + s)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70), st.floats(),
                    st.text(alphabet="0x19aZ ²-.:", max_size=8), hexish,
                    st.sampled_from(["", "0x", "1", "2026-11-17 00:00:00.000 UTC", "QUERY_STATE_COMPLETED",
                                     "QUERY_STATE_COMPLETED_PARTIAL", evm.TOPIC_UPGRADED, evm.TOPIC_ADMIN_CHANGED,
                                     evm.TOPIC_OWNERSHIP_TRANSFERRED, "AIA", "Invalid API Key"]))
keys = st.sampled_from(["date", "totalLiquidityUSD", "tokens", "tvl", "chainTvls", "AIA", "week", "total", "weeks",
                        "state", "result", "rows", "day", "topics", "status", "message", "code"])
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                         max_leaves=6)


def only_parse_errors(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except ParseError:
        pass


def some(strategy):
    """The documented value or anything else."""
    return st.one_of(strategy, scalars)


def rows_of(fields: dict, max_size: int = 3):
    return some(st.lists(some(st.fixed_dictionaries({k: some(v) for k, v in fields.items()})), max_size=max_size))


@FAST
@given(json_like)
def test_every_parser_on_arbitrary_json_only_raises_parse_error(payload):
    for fn, args in ((evm.decode_log, ()), (parse_protocol, ("AIA", "AIA")), (parse_commit_activity, ()),
                     (parse_contributors, ()), (parse_result, ()), (rows_to_records, ("holders", "AIA")),
                     (parse_creations, ())):
        kwargs = {"token": "AIA", "chain": "ethereum", "deployer": "0x" + "d" * 40} if fn is parse_creations else {}
        only_parse_errors(fn, payload, *args, **kwargs)
    try:
        check_envelope(payload)
    except SourceError:  # the envelope's own errors (rate limit, bad key) are SourceErrors by design
        pass
    assert isinstance(classify_rpc_error(payload, "chain"), SourceError)


@FAST
@given(st.fixed_dictionaries({"topics": st.lists(st.sampled_from(evm.WATCHED_TOPICS) | hexish, min_size=1, max_size=4),
                              "address": some(hexish), "data": some(hexish), "transactionHash": some(hexish),
                              "logIndex": some(hexish), "blockNumber": some(hexish), "blockHash": some(hexish),
                              "removed": scalars}))
def test_decode_log_shaped_input_only_raises_parse_error(payload):
    only_parse_errors(evm.decode_log, payload)


@FAST
@given(scalars)
def test_hex_int_and_word_to_address_only_raise_parse_error(value):
    only_parse_errors(evm.hex_int, value, "x")
    only_parse_errors(evm.word_to_address, value, "x")


@FAST
@given(st.dictionaries(st.sampled_from(["Ethereum", "BSC-staking", "borrowed"]),
                       some(st.fixed_dictionaries({
                           "tvl": rows_of({"date": st.integers(0, 2**34), "totalLiquidityUSD": st.floats()}),
                           "tokens": rows_of({"date": st.integers(0, 2**34),
                                              "tokens": st.dictionaries(st.sampled_from(["AIA", "aia", "X"]), scalars)}),
                       })), max_size=3))
def test_defillama_shaped_input_only_raises_parse_error(chain_tvls):
    only_parse_errors(parse_protocol, {"chainTvls": chain_tvls}, "AIA", "AIA")


@FAST
@given(rows_of({"week": st.integers(0, 2**34), "total": st.integers(-5, 10**6)}),
       rows_of({"author": st.fixed_dictionaries({"login": scalars, "type": st.sampled_from(["User", "Bot"])}),
                "weeks": rows_of({"w": st.integers(0, 2**34), "c": st.integers(-1, 99)})}))
def test_github_parsers_shaped_input_only_raise_parse_error(activity, contributors):
    only_parse_errors(parse_commit_activity, activity)
    only_parse_errors(parse_contributors, contributors)


@FAST
@given(st.fixed_dictionaries({
    "state": some(st.sampled_from(["QUERY_STATE_COMPLETED", "QUERY_STATE_COMPLETED_PARTIAL", "QUERY_STATE_FAILED"])),
    "execution_ended_at": some(st.sampled_from(["2026-11-19T23:10:00.123456Z", "2026-13-40T00:00:00Z"])),
    "next_offset": scalars,
    "result": some(st.fixed_dictionaries({"rows": rows_of({"day": st.sampled_from(["2026-11-17 00:00:00.000 UTC",
                                                                                   "yesterday"]),
                                                           "holders": st.integers(-3, 10**9)})})),
}))
def test_dune_parsers_shaped_input_only_raise_parse_error(payload):
    only_parse_errors(parse_result, payload)
    rows = (payload.get("result") or {}).get("rows") if isinstance(payload.get("result"), dict) else None
    if isinstance(rows, list):
        only_parse_errors(rows_to_records, rows, "holders", "AIA")


@FAST
@given(rows_of({"block_time": st.sampled_from(["2026-11-18 10:00:00.000 UTC", "noon"]), "block_number": scalars,
                "tx_hash": some(hexish), "evt_index": scalars, "from_pool": scalars, "to_pool": scalars,
                "amount_usd": scalars}))
def test_dune_liquidity_rows_only_raise_parse_error(rows):
    only_parse_errors(rows_to_events, rows, "AIA", "ethereum")


@FAST
@given(st.fixed_dictionaries({
    "status": some(st.sampled_from(["0", "1"])),
    "message": some(st.sampled_from(["OK", "NOTOK", "No records found", "No transactions found"])),
    "result": some(rows_of({"to": st.sampled_from(["", "0x" + "1" * 40]), "contractAddress": some(hexish),
                            "timeStamp": st.integers(0, 2**34).map(str), "hash": some(hexish),
                            "blockNumber": st.integers(0, 2**40).map(str), "isError": st.sampled_from(["0", "1"]),
                            "confirmations": st.integers(0, 99).map(str)})),
}))
def test_etherscan_shaped_input_raises_only_source_errors(payload):
    try:
        rows = check_envelope(payload)
    except SourceError:
        return
    only_parse_errors(parse_creations, rows, token="AIA", chain="ethereum", deployer="0x" + "d" * 40)


@FAST
@given(st.fixed_dictionaries({"code": scalars, "message": scalars}))
def test_rpc_error_classifier_never_raises(payload):
    assert isinstance(classify_rpc_error(payload, "chain"), SourceError)
