"""Run `divmon` the way a user or cron does: a separate process, from any directory, reading this checkout.

The child installs the suite's network guard first (tests/conftest.py), so it too can reach loopback only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from monitor.config import SOURCE_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
CLI = ("import sys; from tests.conftest import pytest_configure; pytest_configure(None); "
       "from monitor.cli import main; sys.exit(main(sys.argv[1:]))")
SECRET_VARS = ("COINGLASS_API_KEY", "COINGECKO_API_KEY", "DUNE_API_KEY", "ETHERSCAN_API_KEY", "GITHUB_TOKEN",
               "DIVMON_SMTP_USER", "DIVMON_SMTP_PASSWORD", "DIVMON_WEBHOOK_URL", "DIVMON_CONFIG")


def divmon(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    environ["PYTHONPATH"] = str(ROOT)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-c", CLI, *args], cwd=cwd or ROOT, env=environ, capture_output=True,
                          text=True, timeout=timeout)


def offline_config(**sections: Any) -> dict[str, Any]:
    """Every source disabled and loopback allowed; sections are laid over it key by key."""
    data: dict[str, Any] = {"network": {"allow_loopback": True},
                            "sources": {name: {"enabled": False} for name in SOURCE_DEFAULTS}}
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(data.get(key), dict) else value
    return data


def write_config(path: Path, data: dict[str, Any] | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path
