"""Builders for store contents shaped on documented episodes (hourly venue series, daily on-chain)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from monitor.app import App
from monitor.config import Secrets, parse_config
from monitor.model import Event, PollRun

NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
TOKEN = "AIA"
VENUES = ("binance", "bybit", "okx", "gate")


def grid(days: float, freq: str = "1h", end: datetime = NOW) -> pd.DatetimeIndex:
    step = pd.Timedelta(freq)
    n = int(pd.Timedelta(days=days) / step)
    return pd.date_range(end=pd.Timestamp(end).floor(freq), periods=n + 1, freq=freq)


def series(metric: str, source: str, values: Callable[[np.ndarray], np.ndarray] | float | Sequence[float],
           days: float = 40, freq: str = "1h", end: datetime = NOW, token: str = TOKEN) -> pd.DataFrame:
    """A long frame; ``values`` is a constant, a list (oldest first, right-aligned) or f(hours_before_end)."""
    idx = grid(days, freq, end)
    hours_ago = ((pd.Timestamp(end) - idx) / pd.Timedelta(hours=1)).to_numpy()
    if callable(values):
        vals = np.asarray(values(hours_ago), dtype="float64")
    elif np.isscalar(values):
        vals = np.full(len(idx), float(values))
    else:
        vals = np.asarray(values, dtype="float64")
        idx = idx[-len(vals):]
    return pd.DataFrame({"ts": idx, "source": source, "token": token, "metric": metric, "value": vals})


def ramp(before: float, after: float, start_h: float, end_h: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """Flat at ``before`` until start_h hours ago, linear to ``after`` at end_h hours ago, then flat."""

    def f(h: np.ndarray) -> np.ndarray:
        frac = np.clip((start_h - h) / max(start_h - end_h, 1e-9), 0, 1)
        return before + (after - before) * frac

    return f


def geometric(total_growth: float, over_h: float, level_now: float) -> Callable[[np.ndarray], np.ndarray]:
    """Compounding growth reaching ``level_now`` now, ``total_growth`` (e.g. 2.73) over over_h hours."""
    rate = np.log(total_growth) / over_h
    return lambda h: level_now * np.exp(-rate * np.minimum(h, over_h))


def noisy(f: Callable[[np.ndarray], np.ndarray], pct: float, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    return lambda h: f(h) * (1 + rng.normal(0, pct / 100, len(h)))


def calm_market(oi_per_venue: float = 5e6, price: float = 1.0, venues: Sequence[str] = VENUES, seed: int = 1,
                funding: float = 0.0001, long_short: float = 1.0, perp_vol_h: float | None = None,
                spot_vol_24h: float = 4e6, mcap: float = 200e6) -> list[pd.DataFrame]:
    """Every venue reporting a flat, slightly noisy market: funding 0.01 %/8h, long/short ≈ 1."""
    frames = []
    for i, v in enumerate(venues):
        frames += [
            series("oi_usd", v, noisy(lambda h: np.full(len(h), oi_per_venue), 0.5, seed + i)),
            series("funding_rate", v, funding, freq="8h"),
            series("funding_interval_h", v, 8.0, freq="8h"),
            series("long_short_account_ratio", v, noisy(lambda h: np.full(len(h), long_short), 1, seed + 10 + i)),
            series("perp_volume_usd", v, noisy(lambda h: np.full(len(h), perp_vol_h or oi_per_venue / 48), 5,
                                               seed + 20 + i)),
            series("price_close_1h", v, noisy(lambda h: np.full(len(h), price), 0.3, seed + 30 + i)),
        ]
    frames += [
        series("price_close", "coingecko", price, freq="1D"),
        series("market_cap_usd", "coingecko", mcap, freq="1D"),
        series("spot_volume_usd", "coingecko", spot_vol_24h, freq="1D"),
    ]
    return frames


def flat_onchain(tvl_token: float = 50e6, tvl_usd: float = 50e6, addresses: float = 3000, seed: int = 3
                 ) -> list[pd.DataFrame]:
    return [
        series("tvl_token", "defillama", noisy(lambda h: np.full(len(h), tvl_token), 1, seed), freq="1D"),
        series("tvl_usd", "defillama", noisy(lambda h: np.full(len(h), tvl_usd), 1, seed + 1), freq="1D"),
        series("active_addresses", "dune", noisy(lambda h: np.full(len(h), addresses), 3, seed + 2), freq="1D"),
    ]


def replace(frames: list[pd.DataFrame], metric: str, source: str, new: pd.DataFrame | None) -> list[pd.DataFrame]:
    out = [f for f in frames if not (f["metric"].iat[0] == metric and f["source"].iat[0] == source)]
    return out + ([new] if new is not None else [])


def ok_runs(sources: Sequence[str], hours: int = 24, end: datetime = NOW) -> list[PollRun]:
    runs = []
    for src in sources:
        for k in range(hours, 0, -1):
            t = end - timedelta(hours=k) + timedelta(minutes=5)
            runs.append(PollRun(src, TOKEN, t, t + timedelta(seconds=2), "ok", http_status=200, rows=10,
                                 endpoint="fetch"))
    return runs


def config(**token_extra) -> dict:
    token = {"symbol": TOKEN, "venues": {v: {"perp": f"{TOKEN}/USDT:USDT"} for v in VENUES},
             "coingecko_id": "deagentai", "defillama_slug": "deagentai", **token_extra}
    return {"network": {"allow_loopback": True}, "storage": {"url": "sqlite:///unused.db"}, "tokens": [token]}


def make_app(store, frames: list[pd.DataFrame], events: Sequence[Event] = (), runs: Sequence[PollRun] = (),
             now: datetime = NOW, cfg: dict | None = None) -> App:
    """A real App over a real store holding the episode (dune/coinglass stay disabled: no keys)."""
    frames = [f for f in frames if len(f)]
    if frames:
        store.upsert_observations(pd.concat(frames, ignore_index=True))
    if events:
        store.upsert_events(list(events))
    if runs:
        store.record_poll_runs(list(runs))
    app = App(parse_config(cfg or config()), store=store, secrets=Secrets({}), now=lambda: now)
    return app


def event(kind: str, ts: datetime, *, chain: str = "exchange", source: str = "", tx: str | None = None,
          address: str = "0x" + "ab" * 20, **detail) -> Event:
    return Event(ts=ts, token=TOKEN, chain=chain, kind=kind, address=address,
                 tx_hash=tx or f"config:{kind}:{int(ts.timestamp())}", log_index=-1, source=source, detail=detail)
