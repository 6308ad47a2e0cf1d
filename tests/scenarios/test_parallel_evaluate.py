"""evaluate_all shared with worker processes judges exactly as one process does."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

from monitor.jobs import evaluate as job
from monitor.store import Store
from tests.scenarios import episodes as E
from tests.scenarios.test_episodes import ALL_SOURCES, surge_frames


def _stored_app(path, workers: int):
    store = Store(f"sqlite:///{path}")
    cfg = E.config()
    cfg["signals"] = {"workers": workers, "parallel_min_tokens": 1}
    cfg["tokens"] += [{"symbol": s} for s in ("CALM", "CALM2", "SURGE2")]
    return E.make_app(store, [], cfg=cfg)


def test_workers_judge_exactly_like_one_process(tmp_path):
    path = tmp_path / "par.db"
    seed = Store(f"sqlite:///{path}")
    surge = pd.concat(surge_frames(), ignore_index=True)
    calm = pd.concat(E.calm_market() + E.flat_onchain(), ignore_index=True)
    seed.upsert_observations(pd.concat([surge, surge.assign(token="SURGE2"), calm.assign(token="CALM"),
                                        calm.assign(token="CALM2")], ignore_index=True))
    seed.record_poll_runs(E.ok_runs(ALL_SOURCES))
    seed.close()
    serial = job.evaluate_all(_stored_app(path, 1), at=E.NOW)
    parallel_app = _stored_app(path, 2)
    assert job._workers(parallel_app, 4) == 2 or multiprocessing.cpu_count() < 2
    parallel = job.evaluate_all(parallel_app, at=E.NOW)
    assert [repr(v) for v in parallel] == [repr(v) for v in serial]
    assert sorted(v.token for v in serial[:2]) == ["AIA", "SURGE2"]  # the surges rank first

    # the worker side on its own: a spawned process with its own store connection
    app = parallel_app
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=job._init_worker,
                             initargs=(app.config, app.store.url, dict(app.disabled))) as pool:
        remote = pool.submit(job._work, ["AIA", "CALM", "SURGE2", "CALM2"], E.NOW).result(timeout=120)
    by_token = {v.token: repr(v) for v in serial}
    assert [repr(v) for v in remote] == [by_token[t] for t in ("AIA", "CALM", "SURGE2", "CALM2")]


def test_in_memory_or_small_universe_stays_in_one_process(tmp_path):
    app = _stored_app(tmp_path / "one.db", 2)
    assert job._workers(app, 0) == 1  # parallel_min_tokens 1: nothing to share
    signals = app.config.signals.model_copy(update={"parallel_min_tokens": 500})
    app.config = app.config.model_copy(update={"signals": signals})
    assert (job._workers(app, 100) == 1 and job._workers(app, 500) == 2) or multiprocessing.cpu_count() < 2
    mem = E.make_app(Store("sqlite://"), [])
    assert job._workers(mem, 10_000) == 1
