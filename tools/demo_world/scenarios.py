"""The four demo tokens as time series, shaped on documented episodes (DESIGN.md, "Why it matters").

Every value is a pure function of (token, epoch seconds), with deterministic noise, so the scenario
upstream can answer any window a client asks for and a rebuilt bundle is byte-identical.

- SURGE: a leverage-driven surge. Open interest goes from ~$0.3M to >$10M in four days, perp volume
  dwarfs spot, funding turns hot and its interval drops from 8h to 4h; TVL in token units, active
  addresses and developer activity stay flat; an EIP-1967 proxy is upgraded (by a freshly deployed
  implementation) as the surge takes off, ~2 days before its steepest day.
- ORGANIC: adoption. TVL in token units +150% over ten weeks, active addresses and developer activity
  up, open interest grows modestly with spot volume close to perp volume.
- DARK: a liquidation cascade during which both of its venues throttle (OKX 429 + Retry-After, Gate
  418 "banned until"); only the aggregate (CoinGlass) and on-chain data get through.
- SPLIT: sources that disagree: Bybit's volume mirrors Binance's ~1:1, and CoinGlass reports open
  interest ~60% above the sum of the venues it should aggregate.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

T = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # the recording's clock
T_S = int(T.timestamp())
DAY, HOUR = 86_400, 3_600
SINCE_DAYS = 90  # the recorded poll reaches this far back
START_S = T_S - SINCE_DAYS * DAY - 10 * DAY  # series exist a little before the poll window

# one EVM chain: block n has timestamp GENESIS_S + 12 n
BLOCK_TIME_S = 12
HEAD_BLOCK = 21_600_000
GENESIS_S = T_S - HEAD_BLOCK * BLOCK_TIME_S


def block_at(ts: int) -> int:
    return (ts - GENESIS_S) // BLOCK_TIME_S


def block_ts(number: int) -> int:
    return GENESIS_S + number * BLOCK_TIME_S


def noise(*key: object) -> float:
    """Deterministic noise in [-1, 1) for a key."""
    return zlib.crc32("|".join(map(str, key)).encode()) / 2**31 - 1.0


def ramp(ts: float, start_d: float, end_d: float) -> float:
    """0 before start, 1 after end (days relative to T), smooth in between."""
    a, b = T_S + start_d * DAY, T_S + end_d * DAY
    if ts <= a:
        return 0.0
    if ts >= b:
        return 1.0
    x = (ts - a) / (b - a)
    return x * x * (3 - 2 * x)


def lin(ts: float, start_d: float, end_d: float) -> float:
    """0 before start, 1 after end, linear in between (steady adoption, no easing at the end)."""
    a, b = T_S + start_d * DAY, T_S + end_d * DAY
    return min(1.0, max(0.0, (ts - a) / (b - a)))


def grow(ts: float, start_d: float, end_d: float, factor: float) -> float:
    """Exponential growth by ``factor`` between two days (1 before, factor after)."""
    return factor ** ramp(ts, start_d, end_d)


@dataclass(frozen=True)
class Scenario:
    symbol: str
    name: str
    story: str
    venues: tuple[str, ...]
    spot_venue: str | None
    base_price: float
    supply: float  # circulating supply (market cap = price x supply)
    slug: str
    repo: str
    token_address: str
    proxy: str
    deployer: str
    cg_oi_factor: float = 1.0  # CoinGlass aggregate vs the sum of venues
    venue_share: dict[str, float] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)  # venue -> 429 or 418 on data calls
    expect: str = ""  # what the demo must show

    # ---------------------------------------------------------------- market

    def price(self, ts: float) -> float:
        wobble = 1 + 0.015 * noise(self.symbol, "px", int(ts // HOUR))
        if self.symbol == "SURGE":
            return self.base_price * grow(ts, -4.5, -0.3, 4.2) * wobble
        if self.symbol == "ORGANIC":
            return self.base_price * (1 + 0.35 * ramp(ts, -80, 0)) * wobble
        if self.symbol == "DARK":
            return self.base_price * (1 - 0.45 * ramp(ts, -0.9, -0.25)) * wobble
        return self.base_price * (1 + 0.12 * ramp(ts, -10, 0)) * wobble

    def oi_usd(self, ts: float) -> float:
        """Open interest summed over the venues (USD)."""
        jitter = 1 + 0.02 * noise(self.symbol, "oi", int(ts // HOUR))
        if self.symbol == "SURGE":
            return 0.3e6 * (1 + 39.0 * ramp(ts, -4.5, -0.5)) * jitter
        if self.symbol == "ORGANIC":
            return 5.0e6 * (1 + 0.25 * ramp(ts, -90, 0)) * jitter
        if self.symbol == "DARK":
            return 15e6 * (1 - 0.55 * ramp(ts, -0.9, -0.25)) * jitter
        return 8.0e6 * (1 + 0.3 * ramp(ts, -7, 0)) * jitter

    def perp_volume_hour(self, ts: float) -> float:
        j = 1 + 0.2 * noise(self.symbol, "pv", int(ts // HOUR))
        if self.symbol == "SURGE":
            return 2e6 / 24 * grow(ts, -4.5, -0.5, 30.0) * j
        if self.symbol == "ORGANIC":
            return 8e6 / 24 * (1 + 0.3 * ramp(ts, -90, 0)) * j
        if self.symbol == "DARK":
            return 20e6 / 24 * (1 + 4 * (ramp(ts, -0.9, -0.7) - ramp(ts, -0.3, -0.1))) * j
        return 12e6 / 24 * j

    def spot_volume_hour(self, ts: float) -> float:
        j = 1 + 0.2 * noise(self.symbol, "sv", int(ts // HOUR))
        if self.symbol == "SURGE":
            return 0.15e6 / 24 * (1 + 0.1 * ramp(ts, -4.5, 0)) * j
        if self.symbol == "ORGANIC":
            return 5e6 / 24 * (1 + 0.6 * ramp(ts, -90, 0)) * j
        return 4e6 / 24 * j

    def funding(self, ts: float) -> tuple[int, float]:
        """(interval hours, rate per interval as a fraction) in force at ts."""
        if self.symbol == "SURGE" and ts >= T_S - 3 * DAY:
            return 4, 0.0015 + 0.0004 * noise(self.symbol, "f", int(ts // HOUR))
        if self.symbol == "SURGE":
            return 8, 0.0001 + 0.0012 * ramp(ts, -4.5, -3)
        if self.symbol == "DARK":
            return 8, 0.0003 - 0.0009 * ramp(ts, -0.9, -0.25)
        return 8, 0.0001 + 0.00003 * noise(self.symbol, "f", int(ts // HOUR))

    def long_short(self, ts: float) -> float:
        if self.symbol == "SURGE":
            return 1.0 + 1.8 * ramp(ts, -4.5, -0.5) + 0.03 * noise(self.symbol, "ls", int(ts // HOUR))
        if self.symbol == "DARK":
            return 1.8 - 0.9 * ramp(ts, -0.9, -0.25)
        return 1.05 + 0.03 * noise(self.symbol, "ls", int(ts // HOUR))

    def top_ratio(self, ts: float) -> float:
        return 1.0 + 0.6 * (self.long_short(ts) - 1.0)

    def taker_ratio(self, ts: float) -> float:
        return 1.0 + 0.05 * noise(self.symbol, "tk", int(ts // HOUR)) + (0.25 * ramp(ts, -4.5, -1)
                                                                          if self.symbol == "SURGE" else 0)

    def liquidations_hour(self, ts: float) -> tuple[float, float]:
        """(long, short) liquidated USD in the hour starting at ts."""
        base = self.oi_usd(ts) * 0.0005 * (1 + noise(self.symbol, "liq", int(ts // HOUR)))
        if self.symbol == "DARK" and T_S - 0.9 * DAY <= ts < T_S - 0.25 * DAY:
            return base + 0.9e6 * (1 + 0.3 * noise("DARK", "cascade", int(ts // HOUR))), base * 0.2
        return base, base * 0.8

    def venue_oi(self, venue: str, ts: float) -> float:
        return self.oi_usd(ts) * self.venue_share.get(venue, 1.0 / len(self.venues))

    def venue_perp_volume(self, venue: str, ts: float) -> float:
        if self.symbol == "SPLIT":  # bybit reports binance's volume back, within half a percent
            return self.perp_volume_hour(ts) * 0.5 * (1 + (0.004 * noise("mirror", int(ts // HOUR))
                                                           if venue == "bybit" else 0.0))
        return self.perp_volume_hour(ts) * self.venue_share.get(venue, 1.0 / len(self.venues))

    # ---------------------------------------------------------------- on-chain (daily / weekly)

    def tvl_token(self, day_s: int) -> float:
        n = 1 + 0.01 * noise(self.symbol, "tvl", day_s // DAY)
        if self.symbol == "ORGANIC":
            return 40e6 * (1 + 1.5 * lin(day_s, -72, 0)) * n
        if self.symbol == "DARK":
            return 9e6 * (1 - 0.08 * ramp(day_s, -0.9, -0.25)) * n
        return {"SURGE": 120e6, "SPLIT": 30e6}[self.symbol] * n

    def tvl_usd(self, day_s: int) -> float:
        return self.tvl_token(day_s) * self.price(day_s)

    def active_addresses(self, day_s: int) -> float:
        n = 1 + 0.04 * noise(self.symbol, "aa", day_s // DAY)
        if self.symbol == "ORGANIC":
            return round(900 * (1 + 1.9 * lin(day_s, -90, 0)) * n)
        return round({"SURGE": 1500, "DARK": 2600, "SPLIT": 1900}[self.symbol] * n)

    def transfers(self, day_s: int) -> float:
        return round(self.active_addresses(day_s) * 2.6 * (1 + 0.03 * noise(self.symbol, "tx", day_s // DAY)))

    def holders(self, day_s: int) -> float:
        days = (day_s - START_S) / DAY
        if self.symbol == "ORGANIC":
            return round(10_000 + 95 * days)
        return round({"SURGE": 25_000, "DARK": 41_000, "SPLIT": 18_000}[self.symbol] + 3 * days)

    def dex_volume(self, day_s: int) -> float:
        n = 1 + 0.08 * noise(self.symbol, "dex", day_s // DAY)
        if self.symbol == "ORGANIC":
            return 0.8e6 * (1 + 1.6 * lin(day_s, -90, 0)) * n
        return {"SURGE": 0.12e6, "DARK": 1.1e6, "SPLIT": 0.6e6}[self.symbol] * n

    def commits_week(self, week_s: int) -> int:
        n = noise(self.symbol, "dev", week_s // (7 * DAY))
        if self.symbol == "ORGANIC":
            return max(0, round(8 + 24 * lin(week_s, -120, 0) + 3 * n))
        return max(0, round({"SURGE": 6, "DARK": 11, "SPLIT": 9}[self.symbol] + 2 * n))

    def contributors_week(self, week_s: int) -> int:
        if self.symbol == "ORGANIC":
            return 3 + round(6 * lin(week_s, -120, 0))
        return {"SURGE": 2, "DARK": 4, "SPLIT": 3}[self.symbol]

    # ---------------------------------------------------------------- contract events

    def upgrades(self) -> list[tuple[int, str]]:
        """(unix s, new implementation) of EIP-1967 Upgraded events on the proxy."""
        if self.symbol == "SURGE":
            return [(T_S - 4 * DAY - 6 * HOUR, "0x" + "5e" * 20)]
        return []

    def creations(self) -> list[tuple[int, str]]:
        """(unix s, created contract) by the deployer."""
        if self.symbol == "SURGE":
            return [(T_S - 4 * DAY - 9 * HOUR, "0x" + "5e" * 20)]
        return []


def _addr(n: int) -> str:
    return "0x" + f"{n:02x}" * 20


SCENARIOS: dict[str, Scenario] = {
    s.symbol: s for s in (
        Scenario("SURGE", "Surge Protocol", "leverage-driven surge after a proxy upgrade", ("binance", "bybit"),
                 "binance", 0.05, 1_000_000_000, "surge-protocol", "surge-labs/surge-core", _addr(0x11),
                 _addr(0x12), _addr(0x13), venue_share={"binance": 0.65, "bybit": 0.35},
                 expect="speculation"),
        Scenario("ORGANIC", "Organic Finance", "adoption: TVL in token units +150% over ten weeks",
                 ("binance", "bybit"), "binance", 1.0, 300_000_000, "organic-finance", "organic-fi/protocol",
                 _addr(0x21), _addr(0x22), _addr(0x23), venue_share={"binance": 0.55, "bybit": 0.45},
                 expect="not speculation"),
        Scenario("DARK", "Dark Pool Token", "liquidation cascade while its venues throttle", ("okx", "gate"), None,
                 2.0, 200_000_000, "darkpool", "darkpool-xyz/contracts", _addr(0x31), _addr(0x32), _addr(0x33),
                 venue_share={"okx": 0.6, "gate": 0.4}, throttled={"okx": 429, "gate": 418},
                 expect="data degraded"),
        Scenario("SPLIT", "Split Network", "sources that disagree (mirrored volume, CoinGlass OI +60%)",
                 ("binance", "bybit"), "binance", 0.4, 500_000_000, "split-network", "split-net/node", _addr(0x41),
                 _addr(0x42), _addr(0x43), cg_oi_factor=1.6, venue_share={"binance": 0.5, "bybit": 0.5},
                 expect="sources disagree"),
    )
}

# venue symbol ids
def venue_id(venue: str, symbol: str, *, spot: bool = False) -> str:
    if venue in ("binance", "bybit"):
        return f"{symbol}USDT"
    if venue == "okx":
        return f"{symbol}-USDT" if spot else f"{symbol}-USDT-SWAP"
    if venue == "gate":
        return f"{symbol}_USDT"
    raise KeyError(venue)


def by_venue_id(venue: str, vid: str) -> Scenario | None:
    for s in SCENARIOS.values():
        if venue in s.venues and vid in (venue_id(venue, s.symbol), venue_id(venue, s.symbol, spot=True)):
            return s
    return None


def demo_config(storage_url: str = "sqlite:///divmon-demo.db", out_dir: str = "reports") -> dict:
    """The config of the demo (the four scenario tokens); every secret is a placeholder under replay."""
    tokens = []
    for s in SCENARIOS.values():
        venues = {v: {"perp": f"{s.symbol}/USDT:USDT", **({"spot": f"{s.symbol}/USDT"} if v == s.spot_venue else {})}
                  for v in s.venues}
        tokens.append({
            "symbol": s.symbol, "name": s.name, "venues": venues, "coingecko_id": s.slug,
            "defillama_slug": s.slug, "coinglass_symbol": s.symbol,
            "chains": [{"chain": "ethereum", "chain_id": 1, "token_address": s.token_address, "proxies": [s.proxy],
                        "deployers": [s.deployer], "start_block": HEAD_BLOCK - 200 * 7200}],
            "github_repos": [s.repo],
        })
    return {
        "storage": {"url": storage_url},
        "tokens": tokens,
        "sources": {
            "bitget": {"enabled": False}, "hyperliquid": {"enabled": False},
            "dune": {"query_ids": {"active_addresses": 4_100_001, "transfer_count": 4_100_002, "holders": 4_100_003,
                                   "dex_volume_usd": 4_100_004}},
            "chain": {"lookback": "120d", "max_block_range": 200_000, "confirmations": 12},
        },
        "report": {"out_dir": out_dir, "formats": ["html", "md", "json"], "chart_days": 30},
    }
