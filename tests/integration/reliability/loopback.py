"""The scenario upstream on loopback (one server per source, the endpoints the real clients call) and a
config file pointing the product at it, so tests run `divmon` as a user does: a subprocess, a config file,
a database URL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from monitor.demo.server import stop_all
from tools.demo_world.scenarios import demo_config
from tools.demo_world.upstream import base_urls, start_upstreams

ROOT = Path(__file__).resolve().parents[3]
CLI = "import sys; from monitor.cli import main; sys.exit(main(sys.argv[1:]))"
# the chain source scans blocks for ~20 s against the scenario; every other source answers in seconds
SOURCES = ("binance", "bybit", "coinglass", "coingecko", "defillama", "github", "etherscan")
PLACEHOLDER_KEYS = {"COINGLASS_API_KEY": "test-coinglass-key", "ETHERSCAN_API_KEY": "test-etherscan-key",
                    "DUNE_API_KEY": "test-dune-key"}
TOKENS = ("SURGE", "ORGANIC", "DARK", "SPLIT")


@contextmanager
def scenario(tmp_path: Path, db_url: str, sources: tuple[str, ...] = SOURCES, servers: dict | None = None,
             **sections: dict[str, Any]) -> Iterator[Path]:
    """Start the upstreams of ``sources`` (put into ``servers`` when given, to count their requests); yield
    a config.yaml that enables exactly those."""
    started = start_upstreams(list(sources))
    if servers is not None:
        servers.update(started)
    try:
        data = demo_config(db_url, str(tmp_path / "reports"))
        data["network"] = {"allow_loopback": True, "allow_plain_http": True}
        all_sources = data["sources"]
        for name in ("binance", "bybit", "okx", "gate", "bitget", "hyperliquid", "coinglass", "coingecko",
                     "defillama", "dune", "github", "etherscan", "chain"):
            all_sources.setdefault(name, {})["enabled"] = name in sources
        for name, url in base_urls(started).items():
            all_sources[name].update(base_url=url, rate_limit_per_s=1000.0, burst=1000)
        all_sources["github"]["stats_wait_s"] = 0.0
        for key, value in sections.items():
            data[key] = {**data.get(key, {}), **value}
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(data))
        yield path
    finally:
        stop_all(started)


def env() -> dict[str, str]:
    """The subprocess environment: placeholder keys, the checkout first on the import path."""
    return {**os.environ, **PLACEHOLDER_KEYS, "PYTHONPATH": str(ROOT)}


def divmon(cfg: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`divmon -c CFG ARGS...` as a subprocess in the config's folder."""
    return subprocess.run([sys.executable, "-c", CLI, "-c", str(cfg), *args], cwd=cfg.parent, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def start_divmon(cfg: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLI, "-c", str(cfg), *args], cwd=cfg.parent, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
