"""`divmon serve` as a user starts it: a separate process, its bind address, its refusal off loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.cli.runner import CLI, ROOT, SECRET_VARS, divmon, offline_config, write_config
from tests.integration.outputs.helpers import T0, free_port
from tests.integration.serve.conftest import start, stop


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    environ.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.Popen([sys.executable, "-c", CLI, *args], cwd=ROOT, env=environ, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) with a socket listening on this port."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                out.append(addr)
    return out


def test_serve_binds_127_0_0_1_by_default(db, tmp_path):
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", offline_config(serve={"port": port}))
    proc = _spawn("-c", str(cfg), "--db", db, "serve", "--at", T0.isoformat())
    try:
        deadline = time.monotonic() + 30
        while not _listening(port) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert _listening(port) == ["0100007F"]  # 127.0.0.1, and nothing else
        resp = requests.get(f"http://127.0.0.1:{port}/api/tokens", timeout=30)
        assert resp.status_code == 200 and resp.json()["tokens"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in err


def test_non_loopback_host_without_a_token_exits_78_naming_the_setting(db, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", offline_config())
    out = divmon("-c", str(cfg), "--db", db, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert out.returncode == 78
    assert "set serve.auth_token_env" in out.stderr and "0.0.0.0" in out.stderr and "None" not in out.stderr


def test_non_loopback_host_with_the_setting_but_no_variable_exits_78_naming_the_variable(db, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", offline_config(serve={"auth_token_env": "DIVMON_SERVE_TOKEN"}))
    out = divmon("-c", str(cfg), "--db", db, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert out.returncode == 78
    assert "DIVMON_SERVE_TOKEN" in out.stderr and "not set" in out.stderr


def test_non_loopback_host_with_a_token_says_so_on_start(db, tmp_path):
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", offline_config(serve={"auth_token_env": "DIVMON_SERVE_TOKEN"}))
    token = "serve-token-5e1f0c2b9a"
    proc = _spawn("-c", str(cfg), "--db", db, "serve", "--host", "0.0.0.0", "--port", str(port),
                  env={"DIVMON_SERVE_TOKEN": token})
    try:
        deadline = time.monotonic() + 30
        while not _listening(port) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert _listening(port) == ["00000000"]
        base = f"http://127.0.0.1:{port}"
        assert requests.get(base + "/api/status", timeout=30).status_code == 401
        assert requests.get(base + "/", headers={"Authorization": "Bearer nope"}, timeout=30).status_code == 401
        ok = requests.get(base + "/api/status", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert ok.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert "Authorization: Bearer" in err and "$DIVMON_SERVE_TOKEN" in err
    assert token not in err


def test_a_configured_token_is_required_on_loopback_too(db, tmp_path):
    running = start(db, tmp_path, token_env="DIVMON_SERVE_TOKEN", secrets={"DIVMON_SERVE_TOKEN": "t0ken-abcdef12"})
    try:
        denied = running.get("/static/token.js")
        assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
        assert "content-security-policy" in denied.headers
        assert running.get("/", headers={"Authorization": "Bearer t0ken-abcdef12"}).status_code == 200
    finally:
        stop(running)


def test_port_in_use_is_a_clear_error(db, tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = write_config(tmp_path / "c.yaml", offline_config())
        out = divmon("-c", str(cfg), "--db", db, "serve", "--port", str(port))
    assert out.returncode == 78 and f"127.0.0.1:{port}" in out.stderr


@pytest.mark.parametrize("argv", [["serve", "--help"]])
def test_serve_help_names_the_defaults(argv):
    out = divmon(*argv)
    assert out.returncode == 0 and "127.0.0.1" in out.stdout and "8787" in out.stdout


def test_schedule_serve_runs_the_dashboard_inside_divmon_run(db, tmp_path):
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", offline_config(
        storage={"url": db}, schedule={"serve": True, "heartbeat_s": 5}, serve={"port": port},
        report={"out_dir": str(tmp_path / "reports")}))
    proc = _spawn("-c", str(cfg), "run")
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = requests.get(f"http://127.0.0.1:{port}/api/status", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert status is not None and status.status_code == 200, proc.stderr.read() if proc.poll() else ""
        assert _listening(port) == ["0100007F"]
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=60).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                            ("0.0.0.0", False), ("192.0.2.7", False), ("example.org", False)])
def test_only_loopback_hosts_go_without_a_token(host, loopback):
    from monitor.config import Secrets, parse_config
    from monitor.errors import ConfigError
    from monitor.serve.server import bearer_token

    config = parse_config({})
    if loopback:
        assert bearer_token(config, host, Secrets({})) is None
    else:
        with pytest.raises(ConfigError, match=r"serve\.auth_token_env"):
            bearer_token(config, host, Secrets({}))


def test_demo_serve_opens_the_dashboard_on_the_demo(tmp_path):
    port = free_port()
    proc = _spawn("demo", "--dir", str(tmp_path / "demo"), "--serve", "--port", str(port))
    try:
        deadline = time.monotonic() + 240
        ranking = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ranking = requests.get(f"http://127.0.0.1:{port}/api/tokens", timeout=60).json()
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        assert ranking is not None, proc.stderr.read() if proc.poll() is not None else "no answer"
        labels = {r["token"]: r["label"] for r in ranking["tokens"]}
        assert labels["SURGE"] == "speculation" and labels["ORGANIC"] == "adoption"
        assert ranking["status"]["fixed_time"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}/" in err and "SURGE" in out
