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
