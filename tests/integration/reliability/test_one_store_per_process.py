"""Threads asking an App for its store and sources at once get one Store and one set of sources."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from monitor.app import App
from monitor.config import Secrets, load_config
from tests.integration.reliability.loopback import SOURCES, scenario


def _at_once(fn, n: int = 8) -> list:
    barrier = threading.Barrier(n)

    def run(_: int):
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_threads_asking_at_once_share_one_store_and_one_set_of_sources(tmp_path, caplog):
    with scenario(tmp_path, f"sqlite:///{tmp_path / 'divmon.db'}") as cfg:
        app = App(load_config(str(cfg)), secrets=Secrets({"COINGLASS_API_KEY": "k", "ETHERSCAN_API_KEY": "k"}))
        with caplog.at_level(logging.DEBUG, logger="monitor.store.store"):
            stores = _at_once(lambda: app.store)
        sources = _at_once(app.sources)
        app.close()
    assert len({id(s) for s in stores}) == 1
    assert [r.getMessage() for r in caplog.records].count(f"store opened: sqlite:///{tmp_path / 'divmon.db'}") == 1
    assert all(set(s) == set(SOURCES) for s in sources)
    assert all(s[name] is sources[0][name] for s in sources for name in SOURCES)  # built once, shared
