"""`divmon demo`: the whole pipeline, offline, on the bundled recording.

The bundled recording (monitor/demo/data, built by ``python -m tools.demo_world.build_data``) is served by
the replay servers to the real clients; the poll stores into a fresh SQLite file in the demo directory,
then the comparator judges each token and the report is written there (HTML with charts, Markdown,
JSON). Nothing leaves 127.0.0.1 and no key is needed.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.config import Config, parse_config
from monitor.demo.recording import read_manifest
from monitor.demo.replay import replay_app
from monitor.timeutil import to_utc

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
DB_NAME = "demo.db"


@dataclass
class DemoResult:
    dir: Path
    as_of: str
    verdicts: list[Any] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    outcomes: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.verdicts) and bool(self.reports)

    @property
    def html(self) -> Path | None:
        return next((p for p in self.reports if p.suffix == ".html"), None)

    def lines(self) -> list[str]:
        out = [f"divmon demo: 4 scenario tokens replayed offline as of {self.as_of} "
               f"(bundled recording, real clients, no keys)"]
        for v in self.verdicts:
            top = sorted(v.flags, key=lambda f: _SEVERITY.get(f.severity, 0), reverse=True)[:3]
            flags = ", ".join(f"{f.rule}({f.severity})" for f in top) or "no flags"
            degraded = "  DATA DEGRADED" if v.degraded else ""
            out.append(f"  {v.token:<8} {v.label:<17} score {v.score:5.1f}  confidence {v.confidence:4.2f}"
                       f"{degraded}  [{flags}]")
        if not self.verdicts:
            failed = [o for o in self.outcomes if o.status not in ("ok", "partial")]
            out.append(f"  polled {len(self.outcomes)} source/token pairs ({len(failed)} failed); no verdicts")
        for path in self.reports:
            out.append(f"report: {path}")
        out.append(f"database: {self.dir / DB_NAME}   ({self.elapsed_s:.1f}s)")
        if self.html:
            out.append(f"open the report: {self.html.resolve().as_uri()}")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "dir": str(self.dir),
            "verdicts": [{"token": v.token, "label": v.label, "score": round(v.score, 1),
                          "confidence": round(v.confidence, 3), "degraded": v.degraded,
                          "flags": [{"rule": f.rule, "severity": f.severity} for f in v.flags]}
                         for v in self.verdicts],
            "reports": [str(p) for p in self.reports],
            "problems": self.problems,
        }


_SEVERITY = {"info": 0, "warn": 1, "high": 2, "critical": 3}


def demo_config(out: Path, data_dir: Path = DATA_DIR) -> Config:
    """The bundled recording's config with storage and reports moved into ``out``."""
    data = yaml.safe_load((data_dir / "config.yaml").read_text(encoding="utf-8"))
    data["storage"] = {"url": f"sqlite:///{(out / DB_NAME).resolve()}"}
    data.setdefault("report", {})["out_dir"] = str(out)
    return parse_config(data, origin=str(data_dir / "config.yaml"))


def run_demo(directory: str | Path | None = None, *, data_dir: Path = DATA_DIR) -> DemoResult:
    """Replay the bundled recording into ``directory`` (default: a new temp dir, kept), judge, report."""
    from monitor.jobs.poll import poll

    started = time.perf_counter()
    out = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="divmon-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):  # a fresh database each run: the demo is reproducible
        (out / f"{DB_NAME}{suffix}").unlink(missing_ok=True)
    manifest = read_manifest(data_dir)
    result = DemoResult(out, manifest["time"])
    app = replay_app(demo_config(out, data_dir), data_dir, cache_dir=out / "cache")
    try:
        since = to_utc(manifest["since"]) if manifest.get("since") else None
        result.outcomes = poll(app, since=since)
        missing = sorted(set(manifest.get("sources", {})) - set(app.sources()))
        if missing:
            result.problems.append(f"sources in the recording but not runnable here: {missing}")
        result.verdicts = _evaluate(app, result)
        if result.verdicts:
            result.reports = _report(app, result)
        for name, requests in app.unmatched().items():
            result.problems.append(f"{name}: {len(requests)} request(s) not in the recording, e.g. {requests[0]}")
    finally:
        app.close()
    result.elapsed_s = time.perf_counter() - started
    return result


def _evaluate(app: Any, result: DemoResult) -> list[Any]:
    try:
        from monitor.jobs.evaluate import evaluate_all
    except ImportError as exc:
        result.problems.append(f"comparator not available ({exc}); data was polled and stored only")
        return []
    try:
        return evaluate_all(app)
    except Exception as exc:  # the demo still shows what it polled
        log.exception("demo: evaluation failed")
        result.problems.append(f"evaluation failed: {type(exc).__name__}: {exc}")
        return []


def _report(app: Any, result: DemoResult) -> list[Path]:
    try:
        from monitor.jobs.outputs import report_job
    except ImportError as exc:
        result.problems.append(f"report writer not available ({exc})")
        return []
    try:
        return report_job(app, verdicts=result.verdicts)
    except Exception as exc:
        log.exception("demo: report failed")
        result.problems.append(f"report failed: {type(exc).__name__}: {exc}")
        return []
