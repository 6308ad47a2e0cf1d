"""A realistic store and config for the judging benchmarks and the verdict-equivalence test.

Per token: 4 venues × (OI, funding rate, funding interval, long/short ratio, perp volume, 1h close)
hourly, CoinGecko price / market cap / spot volume daily, DefiLlama TVL (token units and USD) and Dune
active addresses daily, over ``days`` days ending at NOW_S, plus a day and a half of poll history (per
request runs and each fetch's summary run, hourly per source, some failing or throttled). Token kinds
rotate so every verdict label and the common flags appear: OI surges without on-chain support,
adoption, a venue gone dark, a throttled source, extreme funding, mirrored perp volume.

Rows go in by sqlite3 executemany sorted by primary key (schema by the Store), like bench_comparator.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

NOW_S = 1_763_596_800  # 2025-11-20T00:00:00Z
DAY = 86_400
VENUES = ("binance", "bybit", "gate", "okx")
HOURLY = ("funding_interval_h", "funding_rate", "long_short_account_ratio", "oi_usd", "perp_volume_usd",
          "price_close_1h")
DAILY = (("active_addresses", "dune"), ("market_cap_usd", "coingecko"), ("price_close", "coingecko"),
         ("spot_volume_usd", "coingecko"), ("tvl_token", "defillama"), ("tvl_usd", "defillama"))
RUN_HOURS = 36  # poll history kept (the judgement reads the last day)
KINDS = ("calm", "surge", "adoption", "dark_venue", "throttled", "funding", "mirrored", "calm", "surge_3d", "calm")


def symbol(i: int) -> str:
    return f"T{i:04d}"


def token_series(i: int, days: int, seed: int = 7) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """{(metric, source): (epoch seconds, values)} of token ``i`` (deterministic per token)."""
    rng = np.random.default_rng([seed, i])
    kind = KINDS[i % len(KINDS)]
    hours = days * 24
    ts_h = NOW_S - 3600 * np.arange(hours - 1, -1, -1, dtype="int64")
    ts_d = NOW_S - DAY * np.arange(days, 0, -1, dtype="int64")  # daily bars, ts = day start, complete
    ago = np.arange(hours - 1, -1, -1)
    price = rng.uniform(0.05, 20) * np.exp(np.cumsum(rng.normal(0, 0.004, hours)))
    oi_total = rng.uniform(2e6, 8e7) * np.exp(np.cumsum(rng.normal(0, 0.002, hours)))
    if kind == "surge":  # OI ×2.6 over the last day, on-chain flat
        oi_total = oi_total * np.where(ago < 24, 1 + 1.6 * (24 - ago) / 24, 1.0)
    elif kind == "surge_3d":
        oi_total = oi_total * np.where(ago < 72, 1 + 1.3 * (72 - ago) / 72, 1.0)
    tvl = rng.uniform(1e6, 1e8) * np.exp(np.cumsum(rng.normal(0, 0.004, days)))
    users = rng.poisson(rng.uniform(200, 5000), days).astype(float) + 1
    if kind == "adoption":  # TVL and users +80% over the last month
        d_ago = np.arange(days - 1, -1, -1)
        growth = np.where(d_ago < 30, 1 + 0.8 * (30 - d_ago) / 30, 1.0)
        tvl, users = tvl * growth, np.round(users * growth)
    out: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    shares = rng.dirichlet(np.ones(len(VENUES)) * 3)
    base_funding = 0.003 if kind == "funding" else 0.0001
    perp_binance = None
    for v, venue in enumerate(VENUES):
        n = hours - (10 if kind == "dark_venue" and venue == "binance" else 0)  # binance stopped 10 h ago
        interval = 4.0 if venue == "gate" else 8.0
        volume = oi_total * rng.uniform(0.05, 0.3) * rng.lognormal(0, 0.3, hours)
        if venue == "binance":
            perp_binance = volume
        elif kind == "mirrored" and venue == "bybit":
            volume = perp_binance * 1.0  # a copy of binance's bars
        values = {
            "funding_interval_h": np.full(hours, interval),
            "funding_rate": rng.normal(base_funding, 0.0001, hours) * interval / 8,
            "long_short_account_ratio": rng.normal(1.1, 0.08, hours),
            "oi_usd": oi_total * shares[v] * rng.uniform(0.99, 1.01, hours),
            "perp_volume_usd": volume,
            "price_close_1h": price * rng.uniform(0.998, 1.002, hours),
        }
        for metric in HOURLY:
            out[(metric, venue)] = (ts_h[:n], values[metric][:n])
    daily_price = price[23::24][-days:]
    daily = {
        "active_addresses": users,
        "market_cap_usd": daily_price * rng.uniform(1e7, 1e9),
        "price_close": daily_price,
        "spot_volume_usd": rng.uniform(1e5, 1e7) * rng.lognormal(0, 0.3, days),
        "tvl_token": tvl,
        "tvl_usd": tvl * daily_price,
    }
    for metric, source in DAILY:
        out[(metric, source)] = (ts_d, daily[metric])
    return out


def token_runs(i: int, seed: int = 7) -> list[tuple]:
    """Poll runs (source, token, started_at, finished_at, status, http_status, rows, endpoint) of token ``i``."""
    rng = np.random.default_rng([seed, i, 1])
    kind = KINDS[i % len(KINDS)]
    token, out = symbol(i), []
    for h in range(RUN_HOURS, 0, -1):
        t = NOW_S - 3600 * h + 60
        for source in (*VENUES, "coingecko", "defillama", "dune"):
            if source in ("dune", "defillama", "coingecko") and h % 24:
                continue
            throttled = kind == "throttled" and source == "okx" and h <= 3
            status, code = ("throttled", 429) if throttled else ("ok", 200)
            if not throttled and rng.random() < 0.01:
                status, code = "timeout", None
            requests = 4 if source in VENUES else 1
            for r in range(requests):
                out.append((source, token, t + r, t + r + 1, status if r == requests - 1 else "ok", code,
                            0, f"/api/{source}/{r}"))
            fetch = "error" if status != "ok" else "ok"
            out.append((source, token, t, t + requests + 1, fetch, None, 0 if fetch != "ok" else 24, "fetch"))
    return out


def build(path: Path, n_tokens: int, days: int = 40, *, full: int | None = None, short_days: int = 2) -> int:
    """Write the store; returns the number of observation rows. With ``full``, only the first ``full``
    tokens get ``days`` of history and the others ``short_days`` (a big store built quickly)."""
    from monitor.store import Store

    Store(f"sqlite:///{path}").close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    rows = 0
    for i in range(n_tokens):
        token, batch, catalogue = symbol(i), [], []
        span = days if full is None or i < full else short_days
        for (metric, source), (ts, values) in sorted(token_series(i, span).items()):
            batch.extend(zip([token] * len(ts), [metric] * len(ts), [source] * len(ts), ts.tolist(),
                             values.tolist(), strict=True))
            catalogue.append((token, metric, source, int(ts[0]), int(ts[-1]), NOW_S))
        con.executemany("INSERT INTO observations (token, metric, source, ts, value) VALUES (?, ?, ?, ?, ?)", batch)
        con.executemany("INSERT INTO series VALUES (?, ?, ?, ?, ?, ?)", catalogue)
        con.executemany("INSERT INTO poll_runs (source, token, started_at, finished_at, status, http_status, rows, "
                        "endpoint) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", token_runs(i))
        rows += len(batch)
        if i % 50 == 49:
            con.commit()
    con.commit()
    con.close()
    return rows


def config_yaml(db: Path, n_tokens: int) -> str:
    """A config naming every token of the store (venues, CoinGecko, DefiLlama, a chain for Dune)."""
    lines = [f'storage: {{url: "sqlite:///{db}"}}', "sources:", "  dune: {api_key_env: BENCH_NO_KEY, "
             "key_required: false}", "  coinglass: {enabled: false}", "tokens:"]
    for i in range(n_tokens):
        s = symbol(i)
        venues = ", ".join(f'{v}: {{perp: "{s}/USDT:USDT"}}' for v in VENUES)
        lines += [f"  - symbol: {s}", f"    venues: {{{venues}}}", f"    coingecko_id: {s.lower()}-coin",
                  f"    defillama_slug: {s.lower()}-protocol",
                  f'    chains: [{{chain: ethereum, token_address: "0x{i + 1:040x}"}}]']
    return "\n".join(lines) + "\n"
