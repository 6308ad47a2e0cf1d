"""What makes `divmon check` fast on a big config (issue 17): libyaml's loader, an indexed token lookup
that follows the token list, and the check benchmark measuring its reference in the same run."""

from __future__ import annotations

import yaml

import monitor.config as config_mod
from bench import world
from monitor.config import load_config


def test_config_is_read_with_libyaml_when_pyyaml_has_it(tmp_path, monkeypatch):
    assert config_mod.SAFE_LOADER is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)
    used = []

    class Recording(config_mod.SAFE_LOADER):  # type: ignore[misc, valid-type]
        def __init__(self, stream):
            used.append(type(self).__mro__[1].__name__)
            super().__init__(stream)

    monkeypatch.setattr(config_mod, "SAFE_LOADER", Recording)
    path = tmp_path / "config.yaml"
    path.write_text(world.config_yaml(tmp_path / "w.db", 3))
    assert [t.symbol for t in load_config(path).tokens] == ["T0000", "T0001", "T0002"]
    assert used == [("CSafeLoader" if yaml.__with_libyaml__ else "SafeLoader")]


def test_token_lookup_by_any_case_and_after_a_copy_with_other_tokens(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(world.config_yaml(tmp_path / "w.db", 50))
    cfg = load_config(path)
    assert cfg.token("t0042") is cfg.tokens[42] and cfg.token("T0007").symbol == "T0007"
    fewer = cfg.model_copy(update={"tokens": cfg.tokens[:3]})
    assert fewer.token("T0002") is cfg.tokens[2]
    try:
        fewer.token("T0042")
    except config_mod.ConfigError as exc:
        assert "T0042" in str(exc) and "configured: T0000, T0001, T0002" in str(exc)
    else:
        raise AssertionError("a token of the original list was found in the copy without it")
    assert cfg.token("T0042").symbol == "T0042"  # the original still finds it


def test_help_loads_no_shutil_datetime_or_typing():
    import subprocess
    import sys

    code = ("import sys; from monitor.cli import main; code = main(['--help']); "
            "print(sorted(m for m in ('shutil', 'datetime', 'typing') if m in sys.modules), code)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=world.Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "[] 0"


def test_help_is_wrapped_to_the_terminal_width_as_argparse_would(monkeypatch):
    import argparse

    import monitor.cli as cli

    for columns in ("60", "133"):
        monkeypatch.setenv("COLUMNS", columns)
        monkeypatch.setattr(cli, "_WIDTH", [])
        ours = cli.build_parser().format_help()
        check_ours = cli.build_parser()._subparsers._group_actions[0].choices["check"].format_help()
        with monkeypatch.context() as m:
            m.setattr(cli.Parser, "_get_formatter", argparse.ArgumentParser._get_formatter)
            theirs = cli.build_parser().format_help()
            check_theirs = cli.build_parser()._subparsers._group_actions[0].choices["check"].format_help()
        assert ours == theirs and check_ours == check_theirs
        assert max(len(line) for line in ours.splitlines()) > 50


def test_help_on_a_terminal_takes_its_width_when_columns_is_unset(monkeypatch):
    import argparse
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    import monitor.cli as cli

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 117, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["PYTHONPATH"] = str(world.Path(__file__).resolve().parents[2])
    proc = subprocess.Popen([sys.executable, "-c", "from monitor.cli import main; main(['--help'])"],
                            stdout=follower, stderr=subprocess.PIPE, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(leader)
    shown = b"".join(chunks).decode().replace("\r\n", "\n")
    monkeypatch.setenv("COLUMNS", "117")
    monkeypatch.setattr(cli.Parser, "_get_formatter", argparse.ArgumentParser._get_formatter)
    assert shown == cli.build_parser().format_help()
