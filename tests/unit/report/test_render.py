"""Report building and rendering, pure: ranking, normalisation, escaping (R1), JSON schema."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from monitor.model import Event, Flag, SourceHealth, Verdict
from monitor.report.build import (
    SCHEMA_VERSION,
    HealthRow,
    TokenSeries,
    build_report,
    clean,
    summarize_health,
)
from monitor.report.render import md_escape, render_html, render_json, render_markdown, render_text
from tests.htmltags import TagCollector

T = dt.datetime(2026, 11, 27, 8, tzinfo=dt.UTC)
HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "[x](javascript:alert(1))",
           "AB\u202eCD", "NUL\x00X", "Z" * 10_000]
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "strong", "table", "tr",
                "th", "td", "a", "section", "span", "ul", "li", "details", "summary", "img", "div"}


def verdict(token: str, score: float, label: str = "speculation", flags=(), **kw) -> Verdict:
    return Verdict(token=token, label=label, score=score, confidence=0.8, flags=tuple(flags), as_of=T, **kw)


def test_tokens_are_ranked_by_score_with_insufficient_data_last():
    data = build_report([verdict("LOW", 10, "adoption"), verdict("NODATA", 99, "insufficient data"),
                         verdict("HIGH", 90)], generated_at=T)
    assert [(t.rank, t.token) for t in data.tokens] == [(1, "HIGH"), (2, "LOW"), (3, "NODATA")]


def test_flags_are_ordered_by_severity_and_evidence_made_json_safe():
    flags = [Flag("a_info", "info", "i"), Flag("b_crit", "critical", "c", {"ratio": 1174.0, "bad": float("inf"),
                                                                           "when": T})]
    [t] = build_report([verdict("AIA", 80, flags=flags)]).tokens
    assert [f.rule for f in t.flags] == ["b_crit", "a_info"]
    assert t.flags[0].evidence == {"ratio": 1174.0, "bad": None, "when": "2026-11-27T08:00:00Z"}
    assert t.max_severity == "critical"


def test_normalized_series_are_rebased_to_100_at_their_first_positive_value():
    idx = pd.date_range("2026-11-01", periods=4, freq="1D", tz="UTC")
    s = TokenSeries(oi=pd.Series([0.0, 2.0, 4.0, 8.0], index=idx), tvl=pd.Series([5.0, 5.0, 5.5, 5.0], index=idx))
    norm = s.normalized()
    assert norm["OI"].tolist() == [0.0, 100.0, 200.0, 400.0]
    assert norm["TVL"].tolist() == pytest.approx([100.0, 100.0, 110.0, 100.0])
    assert "Dev activity" not in norm


def test_clean_drops_control_and_bidi_characters_and_cuts_long_values():
    assert clean("AB\u202eCD\x00E\u200b") == "ABCDE"
    assert clean("Z" * 100, 10) == "Z" * 9 + "…"
    assert clean("a\r\nb") == "a \nb"


def test_r1_hostile_token_names_render_as_text_in_html():
    flags = [Flag("oi_surge_unsupported", "high", name, {name[:20]: 1.0}) for name in HOSTILE[:2]]
    verdicts = [verdict(name, 50 + i, flags=flags, reasons=(name,)) for i, name in enumerate(HOSTILE)]
    html = render_html(build_report(verdicts, generated_at=T))
    parser = TagCollector()
    parser.feed(html)
    tags = {t for t, _ in parser.tags}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    assert "script" not in tags
    assert not any(k.startswith("on") for _, attrs in parser.tags for k in attrs)
    assert all(attrs.get("src", "data:").startswith("data:") for t, attrs in parser.tags if t == "img")
    assert all(attrs["href"].startswith("#") for t, attrs in parser.tags if t == "a")
    shown = "".join(parser.text)
    assert "<script>alert(1)</script>" in shown and '"><img src=x onerror=alert(1)>' in shown
    assert "\u202e" not in html and "\x00" not in html and "Z" * 501 not in html and "Z" * 63 + "…<" in html


def test_r1_hostile_names_are_escaped_in_markdown():
    verdicts = [verdict(name, 50, flags=[Flag("r", "warn", name)]) for name in HOSTILE]
    md = render_markdown(build_report(verdicts))
    assert "<script>" not in md and "<img" not in md
    assert "](javascript:" not in md and "\\[x\\]\\(javascript:alert\\(1\\)\\)" in md
    assert "\u202e" not in md and "\x00" not in md and "Z" * 501 not in md and "| " + "Z" * 63 + "… |" in md
    assert md_escape("a|b_c*d") == "a\\|b\\_c\\*d"  # a pipe cannot break a table row


def test_json_report_has_the_documented_stable_schema():
    health = [HealthRow("binance", "2026-11-27T07:00:00Z", "2026-11-27T07:00:00Z", 4, 1, 1, False)]
    v = verdict("AIA", 88, flags=[Flag("oi_surge_unsupported", "high", "OI +400%", {"oi_growth_pct": 400.0}, "7d")],
                reasons=("OI up, TVL flat",), data_as_of={"binance:oi_usd": "2026-11-27T07:00:00Z"},
                health=(SourceHealth("binance", T, T, 0, 2, False, False, "429 x2"),))
    idx = pd.date_range("2026-11-20", periods=3, freq="1D", tz="UTC")
    series = {"AIA": TokenSeries(events=(Event(idx[1], "AIA", "ethereum", "proxy_upgraded", "0xabc", "0xdef", 3),))}
    doc = json.loads(render_json(build_report([v], series, health, generated_at=T, at=T)))
    assert set(doc) == {"schema_version", "generated_at", "at", "data_until", "tokens", "health"}
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert doc["data_until"] == "2026-11-27T07:00:00Z"
    [tok] = doc["tokens"]
    assert set(tok) == {"token", "rank", "label", "score", "confidence", "max_severity", "flags", "reasons", "as_of",
                        "data_as_of", "health", "events", "explanation"}
    assert tok["explanation"][0].startswith("speculation: score 88/100")
    assert tok["flags"] == [{"rule": "oi_surge_unsupported", "severity": "high", "message": "OI +400%",
                             "evidence": {"oi_growth_pct": 400.0}, "window": "7d"}]
    assert tok["events"][0] == {"ts": "2026-11-21T00:00:00Z", "kind": "proxy_upgraded", "chain": "ethereum",
                                "address": "0xabc", "tx_hash": "0xdef"}
    assert tok["health"][0]["throttled"] == 2
    assert doc["health"][0] == {"source": "binance", "last_ok": "2026-11-27T07:00:00Z",
                                "last_ts": "2026-11-27T07:00:00Z", "polls": 4, "failures": 1, "throttled": 1,
                                "stale": False, "dark": False, "last_error": "", "status": ""}
    assert "AIA" in render_text(build_report([v]))


def test_health_summary_counts_failures_throttling_and_staleness():
    def run(source, status, minutes, http=None, endpoint="fetch", msg=None):
        at = T - dt.timedelta(minutes=minutes)
        return {"id": 0, "source": source, "token": "AIA", "started_at": at, "finished_at": at, "status": status,
                "http_status": http, "error_class": None, "message": msg, "latency_ms": 1.0, "rows": 0,
                "endpoint": endpoint}

    runs = pd.DataFrame([run("binance", "ok", 10), run("binance", "throttled", 20, 429, "/fapi"),
                         run("binance", "throttled", 5, msg="429 twice"),
                         run("okx", "timeout", 5, msg="read timeout"), run("gate", "ok", 600)])
    latest = {"binance": T - dt.timedelta(hours=1), "gate": T - dt.timedelta(hours=11)}
    rows = {r.source: r for r in summarize_health(runs, latest, T, {"binance": 7200, "gate": 7200, "okx": 7200})}
    assert (rows["binance"].polls, rows["binance"].failures, rows["binance"].throttled) == (2, 1, 2)
    assert not rows["binance"].stale and rows["binance"].last_error == "429 twice"
    assert rows["okx"].stale and rows["okx"].dark and rows["okx"].last_ok is None
    assert rows["gate"].stale and rows["gate"].last_ts == "2026-11-26T21:00:00Z"


@pytest.mark.parametrize("order", [("ok", "banned"), ("banned", "ok")])
def test_fetches_finishing_in_one_instant_read_dark_when_any_was_refused(order):
    """A frozen replay clock (or one second of parallel fetches) gives no order between runs: the venue
    refusing any of the newest fetches is what the table says, whatever order the rows came in."""
    runs = pd.DataFrame([{"id": i, "source": "gate", "token": tok, "started_at": T, "finished_at": T,
                          "status": status, "http_status": 418 if status == "banned" else 200, "error_class": None,
                          "message": None, "latency_ms": 1.0, "rows": 3, "endpoint": "fetch"}
                         for i, (tok, status) in enumerate(zip(("AIA", "DARK"), order))])
    [row] = summarize_health(runs, {"gate": T}, T, {"gate": 7200})
    assert (row.status, row.dark) == ("banned", True)


def test_chart_png_is_drawn_for_tokens_with_series_and_events():
    from monitor.report.charts import data_uri, render_pngs

    idx = pd.date_range("2026-11-01", periods=200, freq="1h", tz="UTC")
    ramp = pd.Series(np.linspace(1, 5, 200), index=idx)
    series = TokenSeries(oi=ramp * 1e6, tvl=ramp * 0 + 1e6, funding={"binance": ramp * 1e-4}, rsi=ramp * 15,
                         liq_long=ramp, events=(Event(idx[50], "AIA", "ethereum", "proxy_upgraded", "0x1", "0x2", 0),))
    data = build_report([verdict("AIA", 90), verdict("EMPTY", 10)], {"AIA": series, "EMPTY": TokenSeries()})
    pngs = render_pngs(data.tokens)
    assert list(pngs) == [1] and pngs[1][:4] == b"\x89PNG"
    html = render_html(data, {k: data_uri(v) for k, v in pngs.items()})
    assert 'src="data:image/png;base64,' in html


def test_reused_chart_figure_draws_each_token_afresh():
    from monitor.report.charts import ChartRenderer

    idx = pd.date_range("2026-11-01", periods=300, freq="1h", tz="UTC")
    a = TokenSeries(oi=pd.Series(np.linspace(1, 9, 300), index=idx), rsi=pd.Series(np.full(300, 55.0), index=idx),
                    funding={"okx": pd.Series(np.full(300, 1e-4), index=idx)})
    b = TokenSeries(oi=pd.Series(np.linspace(5, 1, 300), index=idx[::-1]),
                    long_short={"binance": pd.Series(np.full(300, 2.0), index=idx)})
    renderer = ChartRenderer()
    first = renderer.png("$\\frac{A}{", a)  # TeX-like names are text, never parsed
    renderer.png("B", b)
    assert renderer.png("$\\frac{A}{", a) == first  # nothing of B (lines, keys, limits) is left over
