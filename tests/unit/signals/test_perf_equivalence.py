"""Speed work must not move a verdict (issue 17): judge a realistic generated store (bench/world.py) and
compare every verdict, field by field, with a plain path and with the code the speed work started from."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bench import world

ROOT = Path(__file__).resolve().parents[3]
BASELINE = "926281b85ac46f5fe3f709804cb2e0afbf4adea3"  # the commit before the issue-17 speed work
N_TOKENS = 20  # two of every token kind in bench/world.py
NOW = world.NOW_S

JUDGE = """
import dataclasses, json, sys
from monitor.app import App
from monitor.config import load_config
from monitor.jobs.evaluate import evaluate_all
from monitor.timeutil import from_epoch
app = App(load_config(sys.argv[1]))
verdicts = evaluate_all(app, at=from_epoch(int(sys.argv[2])))
print(json.dumps([dataclasses.asdict(v) for v in verdicts], default=str, sort_keys=True))
"""


@pytest.fixture(scope="module")
def realistic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("world")
    world.build(tmp / "world.db", N_TOKENS)
    cfg = tmp / "config.yaml"
    cfg.write_text(world.config_yaml(tmp / "world.db", N_TOKENS))
    return cfg


def _judge(tree: Path, cfg: Path) -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", JUDGE, str(cfg), str(NOW)], cwd=tree, capture_output=True,
                          text=True, timeout=600, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def _plain(value: object) -> object:
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def test_world_covers_every_label_and_the_common_flags(realistic: Path):
    verdicts = _judge(ROOT, realistic)
    assert len(verdicts) == N_TOKENS
    assert {v["label"] for v in verdicts} >= {"speculation", "mixed", "adoption"}
    rules = {f["rule"] for v in verdicts for f in v["flags"]}
    assert {"oi_surge_unsupported", "data_blind_spot", "source_disagreement", "extreme_funding"} <= rules


def test_verdicts_equal_those_of_the_code_before_the_speed_work(realistic: Path, tmp_path: Path):
    """Every field of every verdict (label, score, confidence, flags with their evidence, health, reasons)
    as the commit before the speed work judged the same store. When a later change to the rules moves a
    verdict on purpose, move BASELINE to that change."""
    old = tmp_path / "baseline"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE, "monitor"], capture_output=True,
                             timeout=120)
    if archive.returncode != 0:
        pytest.skip(f"baseline commit {BASELINE[:10]} not in this clone")
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True, timeout=120)
    before, after = _judge(old, realistic), _judge(ROOT, realistic)
    assert [v["token"] for v in after] == [v["token"] for v in before]
    for b, a in zip(before, after, strict=True):
        for key in ("label", "score", "confidence", "flags", "health", "reasons", "degraded", "evidence",
                    "data_as_of"):
            assert a[key] == b[key], (a["token"], key)


def test_store_read_path_judges_like_a_long_frame_of_the_same_rows(realistic: Path):
    """The batched lookback read (numpy arrays, poll runs) judges exactly like the documented long-frame
    input built from the store's plain reads."""
    from monitor.app import App
    from monitor.config import load_config
    from monitor.jobs.evaluate import gather_inputs, lookback
    from monitor.signals import evaluate
    from monitor.timeutil import from_epoch

    app = App(load_config(realistic))
    now = from_epoch(NOW)
    main, _ = lookback(app.config)
    for token in ("T0000", "T0001", "T0003", "T0004", "T0006"):
        fast = gather_inputs(app, token, now)
        frame = app.store.read_series(token, [m for m, _ in {*fast.series}], start=now - main, end=now)
        runs = app.store.read_poll_runs(now - timedelta(days=1), token=token)
        plain = dataclasses.replace(fast, series=None, observations=frame, poll_runs=runs)
        v_fast = evaluate(fast, app.config.signals, app.config.verdict, now)
        v_plain = evaluate(plain, app.config.signals, app.config.verdict, now)
        assert _plain(dataclasses.asdict(v_fast)) == _plain(dataclasses.asdict(v_plain)), token


# ---------------------------------------------------------------- source health from poll runs

H = 3600


def _runs() -> list[tuple]:
    """(source, status, http_status, started_at epoch s, rows, endpoint), in the order a store returns
    them: each source's case pins one condition of the health read."""
    n = NOW
    return [
        ("binance", "ok", 200, n - 1 * H, 3, "/a"), ("binance", "error", 500, n - 2 * H, 0, "/a"),
        ("binance", "ok", 200, n - 3 * H, 3, "/a"),  # latest ok listed first: not failing
        ("bybit", "error", 502, n - 1 * H, 0, "/a"), ("bybit", "ok", 200, n - 2 * H, 3, "/a"),
        ("bybit", "error", 503, n - 5 * H, 0, "/a"),  # latest failure listed first: failing
        ("okx", "error", 429, n - 1 * H, 0, "/a"),  # throttled by its HTTP code
        ("gate", "throttled", None, n - 1 * H, 0, "/a"),  # throttled by its status
        ("bitget", "ok", None, n - 1 * H, 5, "fetch"), ("bitget", "ok", None, n - 1 * H, 0, "fetch"),  # same
        # second: the last listed stands, an empty fetch
        ("hyperliquid", "ok", None, n - 1 * H, 5, "fetch"), ("hyperliquid", "ok", None, n - 3 * H, 0, "fetch"),
        ("hyperliquid", "ok", 200, n - 1 * H, 0, "/a"),  # a request's rows say nothing about the fetch
        ("coingecko", "ok", None, n - 1 * H, None, "fetch"),  # rows unknown: not "empty"
        ("defillama", "error", 500, n - 30 * H, 0, "/a"),  # older than the day health reads
        ("dune", "error", 500, n + 1 * H, 0, "/a"),  # after the judgement
        ("chain", "timeout", None, n - 1 * H, 0, "/rpc"), ("chain", "ok", None, n - 2 * H, 0, "/rpc"),
    ]


def _health_inputs(poll_runs: object):
    import numpy as np

    from monitor.signals import TokenInputs

    hours = NOW - H * np.arange(47, -1, -1, dtype="int64")
    venues = ("binance", "bybit", "okx", "gate", "bitget", "hyperliquid")
    series = {("oi_usd", v): (hours, np.full(48, 1e6)) for v in venues}
    for metric, src in (("price_close", "coingecko"), ("tvl_token", "defillama"), ("active_addresses", "dune")):
        series[(metric, src)] = (hours, np.full(48, 10.0))
    sources = {s: timedelta(hours=1) for *_, s in series}
    return TokenInputs(token="X", series=series, poll_runs=poll_runs, poll_intervals=sources,
                       event_sources={"chain": timedelta(hours=1)}, configured=True)


def _health(poll_runs: object) -> dict:
    from monitor.signals.health import source_health
    from monitor.signals.inputs import View
    from monitor.timeutil import from_epoch

    return {h.source: h for h in source_health(View(_health_inputs(poll_runs), from_epoch(NOW)), "6h")}


def _frame(rows: list[tuple], **dtypes: str):
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["source", "status", "http_status", "started_at", "rows", "endpoint"])
    frame["started_at"] = pd.to_datetime(frame["started_at"], unit="s", utc=True)
    return frame.astype(dtypes) if dtypes else frame


def test_health_reads_each_condition_of_the_runs_alike_from_tuples_and_frames():
    import pandas as pd

    expected = {
        "binance": ("ok", 1, 0), "bybit": ("failing", 2, 0), "okx": ("throttled", 1, 1),
        "gate": ("throttled", 1, 1), "bitget": ("empty", 0, 0), "hyperliquid": ("ok", 0, 0),
        "coingecko": ("ok", 0, 0), "defillama": ("ok", 0, 0), "dune": ("ok", 0, 0), "chain": ("failing", 1, 0),
    }
    missing_as_na = _frame(_runs(), http_status="object")
    missing_as_na.loc[missing_as_na["http_status"].isna(), "http_status"] = pd.NA  # NA: no truth value
    for runs in (_runs(), _frame(_runs()), _frame(_runs(), http_status="Int64"), missing_as_na):
        health = _health(runs)
        assert {s: (h.status, h.failures, h.throttled) for s, h in health.items()} == expected
        assert health["okx"].detail.endswith("last poll error HTTP 429")
        assert health["bybit"].detail.endswith("last poll error HTTP 503")  # the last listed failure
        assert health["chain"].detail == "events only; 1 failed request(s); last poll timeout"
        assert health["binance"].last_ok.timestamp() == NOW - H
    without_rows = _frame(_runs()).drop(columns=["rows"])  # no row counts: no fetch can read as empty
    assert _health(without_rows)["bitget"].status == "ok"


def test_health_of_an_unconfigured_token_skips_runs_without_a_source():
    import dataclasses

    from monitor.signals.health import source_health
    from monitor.signals.inputs import View
    from monitor.timeutil import from_epoch

    runs = _frame([(None, "error", 500, NOW - H, 0, "/a"), (float("nan"), "error", 500, NOW - H, 0, "/a"),
                   ("okx", "error", 500, NOW - H, 0, "/a")])
    inputs = dataclasses.replace(_health_inputs(runs), configured=False, poll_intervals={})
    assert {h.source for h in source_health(View(inputs, from_epoch(NOW)), "6h")} >= {"okx"}
    assert not {"None", "nan"} & {h.source for h in source_health(View(inputs, from_epoch(NOW)), "6h")}


def test_spacing_is_numpy_s_median_of_the_last_fifty_gaps():
    import numpy as np

    from monitor.signals.health import spacing_ns

    hours = np.array([0, 1, 2, 5, 8], dtype="int64") * H * 10**9  # gaps 1, 1, 3, 3 h: median 2 h
    assert spacing_ns(hours) == timedelta(hours=2)
    assert spacing_ns(hours[:4]) == timedelta(hours=1) and spacing_ns(hours[:1]) == timedelta(0)
    rng = np.random.default_rng(3)
    for n in (2, 3, 50, 51, 90):
        t = np.cumsum(rng.integers(1, 10**13, n))
        assert spacing_ns(t) == timedelta(seconds=float(np.median(np.diff(t[-50:]) // 1_000_000 / 1000.0)))


def test_view_arrays_and_series_freshness_answer_for_missing_empty_and_daily_series():
    import math

    import numpy as np

    from monitor.config import SignalsConfig
    from monitor.signals import TokenInputs
    from monitor.signals.context import Context
    from monitor.signals.health import source_health
    from monitor.signals.inputs import View
    from monitor.timeutil import from_epoch

    hours = NOW - H * np.arange(47, -1, -1, dtype="int64")
    days = NOW - 20 * H - 86_400 * np.arange(9, -1, -1, dtype="int64")  # daily, the newest 20 h old
    later = np.array([NOW + H, NOW + 2 * H], dtype="int64")
    series = {("oi_usd", "binance"): (hours, np.full(48, 1e6)), ("tvl_token", "defillama"): (days, np.ones(10)),
              ("price_close", "coingecko"): (later, np.ones(2))}
    inputs = TokenInputs(token="X", series=series, poll_intervals={"binance": timedelta(hours=1),
                         "defillama": timedelta(hours=1), "coingecko": timedelta(hours=1)}, configured=True)
    view = View(inputs, from_epoch(NOW), min_points=0)  # keeps the coingecko series, empty at now
    assert len(view.times("oi_usd", "nosuch")) == 0 and view.last_ts("oi_usd", "nosuch") is None
    assert len(view.times("price_close", "coingecko")) == 0 and view.last_ts("price_close", "coingecko") is None
    assert math.isnan(view.latest("price_close", "coingecko")) and math.isnan(view.latest("oi_usd", "nosuch"))
    assert view.latest("oi_usd", "binance") == 1e6 and view.last_ts("oi_usd", "binance").timestamp() == NOW
    cfg = SignalsConfig()
    ctx = Context(view, cfg, source_health(view, cfg.stale_after))
    assert ctx.metric_fresh("tvl_token", "defillama")  # a day's bar 20 h old is the latest there can be
    assert not ctx.metric_fresh("oi_usd", "defillama")  # healthy source, no such series
    assert not ctx.metric_fresh("price_close", "coingecko")
