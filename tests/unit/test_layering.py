"""The dependency direction of DESIGN.md §1, checked on the source text (imports, not runtime)."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "monitor"
MIDDLE = ["sources", "store", "signals", "report", "notify"]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def files_of(package: str):
    base = PKG / package
    return sorted(base.rglob("*.py")) if base.is_dir() else [PKG / f"{package}.py"]


@pytest.mark.parametrize("package", MIDDLE)
def test_middle_packages_never_import_each_other(package):
    others = [p for p in MIDDLE if p != package]
    for path in files_of(package):
        for name in imports_of(path):
            for other in others:
                assert not name.startswith(f"monitor.{other}"), f"{path.relative_to(PKG)} imports {name}"
            for upper in ("monitor.jobs", "monitor.app", "monitor.cli", "monitor.scheduler"):
                assert not name.startswith(upper), f"{path.relative_to(PKG)} imports {name}"


@pytest.mark.parametrize("package", ["signals", "report"])
def test_signals_and_report_do_no_io(package):
    banned = ("requests", "sqlalchemy", "ccxt", "web3", "dune_client", "smtplib", "socket", "urllib")
    for path in files_of(package):
        for name in imports_of(path):
            assert not name.startswith(banned), f"{path.relative_to(PKG)} imports {name}"


def test_base_modules_import_nothing_above_them():
    for module in ("errors", "model", "timeutil"):
        for name in imports_of(PKG / f"{module}.py"):
            assert not name.startswith("monitor.") or name in ("monitor.errors", "monitor.model", "monitor.timeutil")


def test_only_cli_and_scheduler_import_the_dashboard_and_only_it_imports_the_web_stack():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        names = imports_of(path)
        if rel.parts[0] != "serve":
            assert not any(n.startswith(("starlette", "uvicorn")) for n in names), f"{rel} imports the web stack"
        if rel.parts[0] not in ("serve", "cli") and rel.name != "scheduler.py":
            assert not any(n.startswith("monitor.serve") for n in names), f"{rel} imports monitor.serve"
