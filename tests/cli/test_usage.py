"""Usage errors exit 64 (EX_USAGE, as the README says), and the global options work on either side of the
command, as cron lines and scripts write them."""

from __future__ import annotations

import sqlite3

import pytest

from tests.cli.runner import divmon, offline_config, write_config


@pytest.mark.parametrize("argv, says", [
    (["frobnicate"], "invalid choice"),
    (["check"], "the following arguments are required: token"),
    (["report", "--format", "pdf"], "invalid choice"),
    (["poll", "--no-such-option"], "unrecognized arguments"),
    (["backfill", "AIA", "--since", "last tuesday"], "--since"),
    (["report", "--at", "soon"], "--at"),
    (["queries"], "required"),
])
def test_usage_errors_exit_64_with_the_usage_line_and_the_reason(argv, says):
    out = divmon(*argv)
    assert out.returncode == 64, out.stderr
    assert "usage: divmon" in out.stderr
    assert says in out.stderr
    assert "internal error" not in out.stderr


def test_no_command_prints_help_and_exits_64():
    out = divmon()
    assert out.returncode == 64
    assert "usage: divmon" in out.stdout


def test_global_options_after_the_command_are_honoured(tmp_path):
    config = write_config(tmp_path / "cfg" / "config.yaml",
                          offline_config(tokens=[{"symbol": "ZZZ"}],
                                         storage={"url": f"sqlite:///{tmp_path / 'from-config.db'}"}))
    other = tmp_path / "from-flag.db"
    report = tmp_path / "report.json"
    out = divmon("report", "--format", "json", "--out", str(report), "--config", str(config),
                 "--db", f"sqlite:///{other}", "-q")
    assert out.returncode == 0, out.stderr
    assert report.is_file() and other.is_file() and not (tmp_path / "from-config.db").exists()
    with sqlite3.connect(other) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert out.stderr == ""  # -q after the command: only errors


def test_verbose_after_the_command_counts_like_before_it(tmp_path):
    config = write_config(tmp_path / "config.yaml", offline_config(
        storage={"url": f"sqlite:///{tmp_path / 'x.db'}"}))
    before = divmon("-v", "--config", str(config), "poll")
    after = divmon("poll", "-c", str(config), "-v")
    split = divmon("-v", "poll", "-c", str(config), "-v")
    for out in (before, after, split):
        assert out.returncode == 0, out.stderr
        assert f"INFO monitor.cli.common: config {config}" in out.stderr
    assert " DEBUG " in split.stderr and " DEBUG " not in after.stderr  # -v on both sides adds up to -vv
    plain = divmon("poll", "-c", str(config))
    assert " INFO " not in plain.stderr


def test_config_check_takes_the_config_on_either_side(tmp_path):
    config = write_config(tmp_path / "config.yaml", offline_config(tokens=[{"symbol": "ZZZ"}]))
    for argv in (["--config", str(config), "config", "check"], ["config", "check", "--config", str(config)],
                 ["config", "--config", str(config), "check"]):
        out = divmon(*argv)
        assert out.returncode == 0, out.stderr
        assert "symbol: ZZZ" in out.stdout
