"""The shared evidence formatter, fed every rule's real evidence from the scenario episodes."""

from __future__ import annotations

import inspect
import json
import re
from datetime import UTC, datetime

import pytest

from monitor import evidence as ev
from monitor.evidence import Fact
from monitor.model import Flag, SourceHealth, Verdict
from monitor.signals.rules import RULES
from monitor.store import Store
from tests.scenarios import episodes as E
from tests.scenarios import test_comparator_fixes, test_episodes

RAW = re.compile(r"[{}\[\]]|\d\.\d+e[+-]\d|\bNone\b|\bnan\b|\w+_\w+=")


def _short_buildup_episode(store):
    """OI +20% while price falls 10% with negative funding (short_buildup has no scenario test)."""
    frames = E.calm_market(funding=-0.0003) + E.flat_onchain()
    for v in E.VENUES:
        frames = E.replace(frames, "oi_usd", v, E.series("oi_usd", v, E.ramp(5e6, 6e6, 24)))
        frames = E.replace(frames, "price_close_1h", v, E.series("price_close_1h", v, E.ramp(1.0, 0.9, 24)))
    app = E.make_app(store, frames, runs=E.ok_runs([*E.VENUES, "coingecko", "defillama"]))
    test_episodes.evaluate_token(app, E.TOKEN)


@pytest.fixture(scope="module")
def scenario_verdicts(tmp_path_factory):
    """Every verdict the scenario episodes produce, recorded as they are judged."""
    seen: list[Verdict] = []
    mp = pytest.MonkeyPatch()
    for mod in (test_episodes, test_comparator_fixes):
        for name in ("evaluate_token", "evaluate_all"):
            real = getattr(mod, name, None)
            if real is None:
                continue

            def record(*a, _real=real, **kw):
                out = _real(*a, **kw)
                seen.extend(out if isinstance(out, list) else [out])
                return out

            mp.setattr(mod, name, record)
    episodes = [fn for mod in (test_episodes, test_comparator_fixes)
                for name, fn in inspect.getmembers(mod, inspect.isfunction) if name.startswith("test_")]
    episodes.append(_short_buildup_episode)
    try:
        for fn in episodes:
            params = inspect.signature(fn).parameters
            if set(params) - {"store", "tmp_path"}:
                continue
            folder = tmp_path_factory.mktemp("episode")
            store = Store(f"sqlite:///{folder / 'divmon.db'}")
            try:
                fn(**{k: {"store": store, "tmp_path": folder}[k] for k in params})
            finally:
                store.close()
    finally:
        mp.undo()
    return seen


@pytest.fixture(scope="module")
def scenario_flags(scenario_verdicts):
    return [f for v in scenario_verdicts for f in v.flags]


def test_scenarios_cover_every_rule(scenario_flags):
    assert set(RULES) <= {f.rule for f in scenario_flags}


def test_every_real_flag_reads_as_title_and_labelled_facts(scenario_flags):
    for flag in scenario_flags:
        text = ev.flag_text(flag)
        full = ev.flag_text(flag, verbose=True)
        assert text.rule == flag.rule and text.severity == flag.severity
        assert text.title and not RAW.search(text.title), (flag.rule, text.title)
        assert 1 <= len(text.facts) <= 6, (flag.rule, text.facts)
        assert len(full.facts) >= len(text.facts)
        assert full.facts[: len(text.facts)] == text.facts
        for fact in full.facts:
            assert fact.label and fact.value, (flag.rule, fact)
            assert not RAW.search(fact.value), (flag.rule, fact)
            assert not RAW.search(fact.label), (flag.rule, fact)
        # JSON round trip (the digest reads evidence back from the store) reads the same
        again = Flag(flag.rule, flag.severity, flag.message, json.loads(json.dumps(flag.evidence, default=str)))
        assert ev.flag_text(again, verbose=True).facts == full.facts


def test_surge_facts_carry_units(scenario_flags):
    surge = next(f for f in scenario_flags if f.rule == "oi_surge_unsupported")
    facts = {x.label: x.value for x in ev.flag_text(surge).facts}
    assert facts["OI growth (7d)"] == "+161%"
    assert facts["Open interest"] == "$52.2M"
    assert facts["Best on-chain growth (7d)"] == "+0.6% (active addresses)"


def test_redeployment_event_reads_hours_before_the_surge(scenario_flags):
    red = next(f for f in scenario_flags if f.rule == "oi_surge_with_redeployment")
    values = [x.value for x in ev.flag_text(red).facts]
    assert any("token migration" in v and re.search(r"\d+ h (before|after) the surge", v) for v in values), values


def test_funding_and_cap_changes_read_as_units(scenario_flags):
    crowd = next(f for f in scenario_flags if f.rule == "crowded_longs")
    assert {"Funding": "0.120%/8h"}.items() <= {x.label: x.value for x in ev.flag_text(crowd).facts}.items()
    cap = next(f for f in scenario_flags if f.rule == "exchange_event" and f.evidence.get("funding_cap_changes"))
    values = " | ".join(x.value for x in ev.flag_text(cap).facts)
    assert "binance: 4 h → 1 h" in values and "±2% → ±4%" in values, values


def test_blind_spot_names_each_dark_source(scenario_flags):
    blind = next(f for f in scenario_flags if f.rule == "data_blind_spot" and f.evidence.get("during_move"))
    facts = {x.label: x.value for x in ev.flag_text(blind, verbose=True).facts}
    assert facts["binance"].startswith("throttled")
    assert facts["During a market move"] == "yes"


def test_unknown_keys_and_shapes_never_crash_nor_read_raw():
    weird = {"new_thing_usd": 1.22e7, "odd_pct": 12.345, "nested": {"a": {"b_usd": 5, "c": [1, {"d": 2.5}], "e": None}},
             "when": "2025-11-20T12:00:00+00:00", "rate_8h_pct": 0.255, "ratio_x": 3.14159, "flag": True,
             "nan_value": float("nan"), "lst": [], "obj": object(), 7: "int key", "dt": datetime(2025, 1, 2, tzinfo=UTC)}
    text = ev.flag_text(Flag("brand_new_rule", "warn", "something_new happened", weird), verbose=True)
    values = {x.label: x.value for x in text.facts}
    assert values["New thing"] == "$12.2M"
    assert values["Odd"] == "12%"
    assert values["Rate"] == "0.255%/8h"
    assert values["When"] == "2025-11-20 12:00 UTC"
    assert values["Ratio x"] == "3.14"
    assert values["Nested"] == "a: b: $5, c: 1, d: 2.50"
    mixed = ev.flag_text(Flag("x", "info", "", {"growth_pct": {"dex_volume_usd": 8.0, "holders": 0.5}})).facts
    assert mixed == (Fact("Growth", "DEX volume: +8.0%, holders: +0.5%"),)
    for fact in text.facts:
        assert not RAW.search(fact.value), fact
    assert ev.flag_text(Flag("x", "info", "", {"windows": [1, 2], "events": "oops", "sources": 3})).title


@pytest.mark.parametrize(("fn", "value", "expected"), [
    (ev.fmt_usd, 12_200_000, "$12.2M"), (ev.fmt_usd, 1.4e9, "$1.4B"), (ev.fmt_usd, 950, "$950"),
    (ev.fmt_usd, 52_300, "$52.3K"), (ev.fmt_usd, 999_960, "$1.0M"), (ev.fmt_usd, -2.5e6, "-$2.5M"), (ev.fmt_usd, None, "–"),
    (ev.fmt_pct, 4047.0, "+4,047%"), (ev.fmt_pct, 6.4, "+6.4%"), (ev.fmt_pct, -36.0, "-36%"),
    (ev.fmt_pct, 0.0, "0%"), (ev.fmt_funding, 0.00255, "0.255%/8h"), (ev.fmt_funding, -0.0005, "-0.050%/8h"),
    (ev.fmt_hours, 57, "57 h"), (ev.fmt_hours, 76.8, "3.2 d"), (ev.fmt_num, 1234567, "1,234,567"),
    (ev.fmt_num, 4.493, "4.49"), (ev.fmt_num, float("inf"), "–"),
])
def test_formatters(fn, value, expected):
    assert fn(value) == expected


def test_unsigned_pct():
    assert ev.fmt_pct(298.5, signed=False) == "298%"


def _verdict(label, score, confidence, evidence, reasons=(), health=()):
    return Verdict("AIA", label, score, confidence, (), datetime(2025, 11, 20, tzinfo=UTC), tuple(reasons),
                   tuple(health), {}, False, evidence)


def test_adoption_explains_series_oi_and_window():
    lines = ev.verdict_explanation(_verdict("adoption", 5, 1.0, {
        "base": 20, "rules": {}, "adoption": 15.0, "oi_usd": 3e6, "oi_venues": ["binance"],
        "trend": {"window": "30d", "best_onchain_growth_pct": 150.2, "best_onchain_metric": "tvl_token",
                  "oi_growth_pct": 6.4}}))
    text = "\n".join(lines)
    assert "TVL (token units) +150% over 30d" in text and "OI +6.4%" in text, text
    assert "confidence 1.00" in text.lower()


def test_explanation_names_what_lowered_confidence():
    dark = SourceHealth("okx", None, None, 3, 3, True, True, "no data", "throttled")
    lines = ev.verdict_explanation(_verdict("mixed", 50, 0.6, {"base": 20, "rules": {"perp_spot_ratio": 30.0}},
                                            ["okx: throttled (no data)"], [dark]))
    text = "\n".join(lines)
    assert "okx: throttled (no data)" in text
    assert "perp/spot volume +30" in text.lower(), text


def test_every_scenario_verdict_explains_itself(scenario_verdicts):
    assert {v.label for v in scenario_verdicts} >= {"speculation", "adoption", "insufficient data"}
    for v in scenario_verdicts:
        lines = ev.verdict_explanation(v)
        assert lines and all(line and not RAW.search(line) for line in lines), lines
        assert v.label in lines[0]


def test_nested_values_take_their_parents_unit(scenario_flags):
    surge = next(f for f in scenario_flags if f.rule == "oi_surge_unsupported")
    facts = {x.label: x.value for x in ev.flag_text(surge, verbose=True).facts}
    parts = set(facts["On-chain growth (7d)"].split(", "))
    assert parts == {"active addresses: +0.6%", "TVL (token units): -0.3%"}
    split = next(f for f in scenario_flags if f.rule == "source_disagreement" and "findings" in f.evidence)
    text = ev.flag_text(split, verbose=True)
    assert Fact("Values", "coinglass: $32.1M, venue sum: $19.9M") in text.facts
    labels = [x.label for x in text.facts]
    assert labels.index("Matching bars") < labels.index("Deviation")  # each finding stays together


def test_event_hours_read_before_or_after_the_surge():
    def value(hours):
        flag = Flag("oi_surge_with_redeployment", "high", "", {"events": [
            {"kind": "proxy_upgraded", "ts": "2025-11-18T12:00:00+00:00", "hours_from_surge": hours}]})
        return ev.flag_text(flag).facts[0].value

    assert value(-20.0) == "proxy upgrade 2025-11-18 12:00 UTC, 20 h before the surge began"
    assert value(57.0).endswith("57 h after the surge began")
