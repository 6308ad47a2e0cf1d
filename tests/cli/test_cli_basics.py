import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "ccxt", "web3", "matplotlib", "dune_client", "sqlalchemy", "pydantic", "requests", "starlette",
         "uvicorn", "jinja2")


def test_help_imports_no_heavy_library():
    code = (
        "import sys; from monitor.cli import main\n"
        "try: main(['--help'])\nexcept SystemExit: pass\n"
        "try: main(['check', '--help'])\nexcept SystemExit: pass\n"
        f"print('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "usage: divmon check" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "LOADED="


def test_every_command_has_help_and_appears_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)
    for name, sp in sub.choices.items():
        assert sp.description, f"{name} has no description"
        assert f"divmon {name}" in readme, f"README does not mention `divmon {name}`"


def test_config_check_prints_resolved_config_and_exits_zero(capsys):
    assert main(["config", "check", "--config", str(ROOT / "config.yaml")]) == 0
    out = capsys.readouterr()
    assert "symbol: AIA" in out.out and "config OK: 1 token(s)" in out.err


def test_config_check_with_three_mistakes_lists_all_and_exits_78(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("storage: {url: 5, pool: 3}\ntokens: [{symbol: 'A B'}]\n")
    assert main(["config", "check", "--config", str(bad)]) == 78
    err = capsys.readouterr().err
    assert "3 problem(s)" in err
    for path in ("storage.url", "storage.pool", "tokens[0].symbol"):
        assert f"  - {path}:" in err


def test_console_script_runs():
    exe = Path(sys.executable).with_name("divmon")
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    assert "divmon" in out.stdout and "check" in out.stdout
