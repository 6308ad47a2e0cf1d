"""The dependency direction of DESIGN.md §1, checked on the source text (imports, not runtime)."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "monitor"
MIDDLE = ["sources", "store", "signals", "report", "notify"]


def imports_of(path: Path, root: Path = PKG.parent) -> set[str]:
    """Every module (or module attribute) a file imports, absolute: ``from monitor import store`` and
    ``from ..store import Store`` name ``monitor.store`` / ``monitor.store.Store``, not just ``monitor``."""
    tree = ast.parse(path.read_text())
    package = list(path.relative_to(root).parent.parts)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names |= {f"{module}.{a.name}" for a in node.names}
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def files_of(package: str):
    base = PKG / package
    return sorted(base.rglob("*.py")) if base.is_dir() else [PKG / f"{package}.py"]


def test_the_checker_sees_every_import_form(tmp_path):
    module = tmp_path / "monitor" / "signals" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text("import monitor.store\nfrom monitor.notify import email\nfrom monitor import report, jobs as j\n"
                      "from .. import sources\nfrom ..app import App\nfrom . import rules\n")
    names = imports_of(module, root=tmp_path)
    assert {"monitor.store", "monitor.notify.email", "monitor.report", "monitor.jobs", "monitor.sources",
            "monitor.app.App", "monitor.signals.rules"} <= names
    assert not within("monitor.storefront", "monitor.store") and within("monitor.store.db", "monitor.store")


@pytest.mark.parametrize("package", MIDDLE)
def test_middle_packages_never_import_each_other(package):
    others = [p for p in MIDDLE if p != package]
    for path in files_of(package):
        for name in imports_of(path):
            for other in others:
                assert not within(name, f"monitor.{other}"), f"{path.relative_to(PKG)} imports {name}"
            for upper in ("monitor.jobs", "monitor.app", "monitor.cli", "monitor.scheduler"):
                assert not within(name, upper), f"{path.relative_to(PKG)} imports {name}"


@pytest.mark.parametrize("package", ["signals", "report"])
def test_signals_and_report_do_no_io(package):
    banned = ("requests", "sqlalchemy", "ccxt", "web3", "dune_client", "smtplib", "socket", "urllib")
    for path in files_of(package):
        for name in imports_of(path):
            assert not name.startswith(banned), f"{path.relative_to(PKG)} imports {name}"


def test_base_modules_import_nothing_above_them():
    for module in ("errors", "model", "timeutil"):
        for name in imports_of(PKG / f"{module}.py"):
            allowed = ("monitor.errors", "monitor.model", "monitor.timeutil")
            assert not within(name, "monitor") or any(within(name, a) for a in allowed), f"{module} imports {name}"


def test_only_cli_and_scheduler_import_the_dashboard_and_only_it_imports_the_web_stack():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        names = imports_of(path)
        if rel.parts[0] != "serve":
            assert not any(n.startswith(("starlette", "uvicorn")) for n in names), f"{rel} imports the web stack"
        if rel.parts[0] not in ("serve", "cli") and rel.name != "scheduler.py":
            assert not any(n.startswith("monitor.serve") for n in names), f"{rel} imports monitor.serve"
