"""Run the whole suite with secret canaries: ``pytest -p tests.faults.canary_plugin``.

At session start every key env var gets its canary value (tests/faults/canary.py), the root logger goes
to DEBUG into a collecting handler, and afterwards the plugin searches, raw and URL-encoded:
- every log record emitted by our code or the libraries it drives (the fake upstream's own request log,
  werkzeug/pytest_httpserver, is skipped: it is the other side of the wire);
- the report of every failed test (its exception chain as pytest renders it) and captured output;
- every file the tests left under the session's temporary directory: SQLite files (and -wal), reports,
  e-mails, caches.
Any hit fails the session with the env var name and where it was found (never the value).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.faults.canary import CANARIES, canary_hits

SKIP_LOGGERS = ("werkzeug", "pytest_httpserver")
MAX_FILE_BYTES = 64 * 1024 * 1024


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.current = "(collection)"
        self.hits: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(SKIP_LOGGERS):
            return
        try:
            text = record.getMessage()
        except Exception:
            return
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        for name in canary_hits(text):
            self.hits.append(f"{self.current}: log record of {record.name} contains the {name} canary")


_collector = _Collector()
_report_hits: list[str] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    for name, value in CANARIES.items():
        os.environ[name] = value
    root = logging.getLogger()
    root.addHandler(_collector)
    root.setLevel(logging.DEBUG)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _collector.current = item.nodeid


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    texts = [report.longreprtext or ""] + [content for title, content in report.sections
                                           if not title.startswith("Captured log")]
    for name in canary_hits("\n".join(texts)):
        _report_hits.append(f"{report.nodeid} ({report.when}): test report/output contains the {name} canary")


def _scan_files(root: Path) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        try:
            if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_FILE_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        hits += [f"file {path}: contains the {name} canary" for name in canary_hits(data)]
    return hits


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(_collector)
    hits = _collector.hits + _report_hits
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        try:
            hits += _scan_files(factory.getbasetemp())
        except (OSError, ValueError):
            pass
    session.config.stash[_HITS] = hits
    if hits:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_HITS = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    hits = config.stash.get(_HITS, [])
    terminalreporter.section("secret canaries")
    if not hits:
        terminalreporter.write_line(f"no canary of {len(CANARIES)} secret env vars found in logs, reports or files")
        return
    for line in sorted(set(hits)):
        terminalreporter.write_line(line, red=True)
