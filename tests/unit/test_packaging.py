"""The explicit package list in pyproject.toml must match the tree, or a new subpackage would not ship."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed_for_installation():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(meta["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "monitor").rglob("__init__.py")
        if "__pycache__" not in p.parts and "data" not in p.relative_to(ROOT / "monitor").parts
    }
    assert on_disk | {"monitor.queries"} == listed


def test_top_level_queries_ship_as_monitor_queries():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["tool"]["setuptools"]["package-dir"]["monitor.queries"] == "queries"
    assert meta["tool"]["setuptools"]["package-data"]["monitor.queries"] == ["*.sql"]
