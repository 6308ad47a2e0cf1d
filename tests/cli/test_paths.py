"""Relative paths in a config file follow the file, not the current directory: cron runs
`divmon --config /abs/config.yaml poll` from $HOME and must use the same database, reports and cache as a
person in the project folder. Paths typed on the command line (--db) and the embedded defaults follow the
current directory."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tests.cli.runner import ROOT, divmon, offline_config, write_config
from tests.cli.test_poll_exit import protocol_payload


def project(tmp_path: Path, base: str) -> Path:
    proj = tmp_path / "proj"
    shutil.copytree(ROOT / "queries", proj / "queries")
    return write_config(proj / "config.yaml", offline_config(
        storage={"url": "sqlite:///divmon.db"},  # relative, as in the shipped config
        report={"out_dir": "reports"},
        tokens=[{"symbol": "ZED", "defillama_slug": "zed"}],
        sources={"defillama": {"enabled": True, "base_url": base + "/llama", "max_retries": 0},
                 "dune": {"enabled": False}},
    ))


def rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM observations").fetchone()[0]


def test_cron_from_another_directory_uses_the_files_beside_the_config(tmp_path, httpserver):
    httpserver.expect_request("/llama/protocol/zed").respond_with_json(protocol_payload())
    config = project(tmp_path, httpserver.url_for("").rstrip("/"))
    home = tmp_path / "home"
    home.mkdir()
    poll = divmon("poll", "--config", str(config), cwd=home)
    assert poll.returncode == 0, poll.stderr
    assert rows(config.parent / "divmon.db") == 6
    check = divmon("check", "ZED", "--no-poll", "--json", "--config", str(config), cwd=home)
    assert '"token": "ZED"' in check.stdout, check.stderr
    report = divmon("report", "--format", "json", "--config", str(config), cwd=home)
    assert report.returncode == 0, report.stderr
    assert (config.parent / "reports" / "divmon-report.json").is_file()
    listing = divmon("queries", "list", "--config", str(config), cwd=home)
    assert listing.returncode == 0, listing.stderr
    assert f"ids file: {config.parent / '.divmon-cache' / 'dune-query-ids.json'}" in listing.stdout
    assert "active_addresses" in listing.stdout  # queries/ beside the config
    assert sorted(p.name for p in home.iterdir()) == []  # nothing landed where cron started


def test_config_check_shows_the_resolved_paths(tmp_path):
    config = project(tmp_path, "http://127.0.0.1:9")
    out = divmon("config", "check", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"url: sqlite:///{config.parent / 'divmon.db'}" in out.stdout
    assert f"out_dir: {config.parent / 'reports'}" in out.stdout
    assert f"cache_dir: {config.parent / '.divmon-cache'}" in out.stdout


def test_paths_typed_on_the_command_line_and_embedded_defaults_follow_the_current_directory(tmp_path):
    config = project(tmp_path, "http://127.0.0.1:9")
    here = tmp_path / "here"
    here.mkdir()
    out = divmon("report", "--format", "json", "--out", "r.json", "--config", str(config),
                 "--db", "sqlite:///typed.db", cwd=here)
    assert out.returncode == 0, out.stderr
    assert (here / "typed.db").is_file() and (here / "r.json").is_file()
    assert not (config.parent / "divmon.db").exists()
    bare = tmp_path / "bare"
    bare.mkdir()
    out = divmon("report", "--format", "json", cwd=bare)
    assert out.returncode == 0, out.stderr
    assert (bare / "divmon.db").is_file() and (bare / "reports" / "divmon-report.json").is_file()
