"""Discovery, timing, peak-RSS measurement and output of the benchmarks (protocol in bench/__init__.py)."""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import os
import pkgutil
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("name", "value", "reference", "unit", "ratio", "target", "passed", "note")


# ------------------------------------------------------------------ rows


def row(
    name: str,
    value: float | None,
    *,
    unit: str,
    target: str = "",
    reference: float | None = None,
    ratio: float | None = None,
    passed: bool | None = None,
    note: str = "",
) -> dict[str, Any]:
    """One result row in the protocol's shape."""
    return {"name": name, "value": value, "reference": reference, "unit": unit, "ratio": ratio,
            "target": target, "passed": passed, "note": note}


def ratio_of(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def at_least(ratio: float | None, limit: float) -> bool | None:
    return None if ratio is None else ratio >= limit


def at_most(ratio: float | None, limit: float) -> bool | None:
    return None if ratio is None else ratio <= limit


# ------------------------------------------------------------------ timing


@dataclass(frozen=True)
class Timing:
    runs: tuple[float, ...]  # wall seconds
    cpu: tuple[float, ...] = ()  # this process's CPU seconds over the same runs (in-process work only)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None

    def describe(self) -> str:
        if len(self.runs) == 1:
            return f"1 run ({self.runs[0]:.3g} s)"
        return f"median of {len(self.runs)} ({min(self.runs):.3g}–{max(self.runs):.3g} s)"


def median_time(fn: Callable[..., Any], repeat: int, *, setup: Callable[[], Any] | None = None,
                warmup: int = 0) -> Timing:
    """Wall time of fn() (or fn(setup()) — setup is not timed), `repeat` times after `warmup` runs."""
    runs, cpu = [], []
    for i in range(warmup + repeat):
        arg = setup() if setup is not None else None
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(arg) if setup is not None else fn()
        elapsed, used = time.perf_counter() - start, time.process_time() - start_cpu
        if i >= warmup:
            runs.append(elapsed)
            cpu.append(used)
    return Timing(tuple(runs), tuple(cpu))


def _tail(text: str | bytes | None, lines: int = 5) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return " | ".join((text or "").strip().splitlines()[-lines:])


def time_commands(commands: Mapping[str, Sequence[str]], repeat: int, *, warmup: int = 1,
                  timeout: float = 60, env: Mapping[str, str] | None = None) -> dict[str, Timing]:
    """Median wall time of each command; runs are interleaved so drift hits every command alike."""
    runs: dict[str, list[float]] = {key: [] for key in commands}
    for i in range(warmup + repeat):
        for key, argv in commands.items():
            start = time.perf_counter()
            proc = subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout,
                                  env=dict(env) if env is not None else None, cwd=ROOT)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                raise RuntimeError(f"{key!r} exited {proc.returncode}: {_tail(proc.stderr)}")
            if i >= warmup:
                runs[key].append(elapsed)
    return {key: Timing(tuple(v)) for key, v in runs.items()}


# ------------------------------------------------------------------ peak RSS in a subprocess
#
# getrusage()/wait4() report a child's ru_maxrss including the parent's resident set at fork time
# (the high-water mark is carried across fork+exec on Linux), so a big benchmark process would
# inflate every child's figure. Hence: Python calls read VmHWM of their own fresh address space, and
# commands run under a tiny launcher whose own footprint is the only thing they can inherit.

_PEAK = r"""
def _peak_rss():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024
"""

_CALLER = "import importlib, json, sys\n" + _PEAK + r"""
target, args, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
mod, _, fn = target.partition(":")
result = getattr(importlib.import_module(mod), fn)(*args)
with open(out, "w") as fh:
    json.dump({"result": result, "peak_rss": _peak_rss()}, fh)
"""

_LAUNCHER = r"""
import json, os, resource, subprocess, sys, time
argv, out = json.loads(sys.argv[1]), sys.argv[2]
start = time.perf_counter()
proc = subprocess.Popen(argv, close_fds=True)
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - start
peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
with open(out, "w") as fh:
    json.dump({"seconds": seconds, "peak_rss": peak, "returncode": os.waitstatus_to_exitcode(status)}, fh)
"""


def _child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def _run_killable(argv: list[str], timeout: float, env: dict[str, str], cwd: Path | str | None) -> tuple[int, str, str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=cwd or ROOT, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the session we started, grandchildren included
        proc.communicate()
        raise RuntimeError(f"{argv[:4]} timed out after {timeout:.0f} s") from None
    return proc.returncode, out, err


def call_isolated(target: str, *args: Any, timeout: float = 600) -> tuple[Any, int]:
    """Call ``module:function(*args)`` (JSON-able args and result) in a fresh interpreter.

    Returns (result, peak RSS in bytes of that interpreter)."""
    with tempfile.TemporaryDirectory(prefix="divmon-bench-") as tmp:
        out = Path(tmp) / "result.json"
        rc, _, err = _run_killable([sys.executable, "-c", _CALLER, target, json.dumps(list(args)), str(out)],
                                   timeout, _child_env(), None)
        if rc != 0 or not out.exists():
            raise RuntimeError(f"{target} failed in its subprocess (exit {rc}): {_tail(err)}")
        data = json.loads(out.read_text())
    return data["result"], data["peak_rss"]


@dataclass(frozen=True)
class CommandRun:
    seconds: float
    peak_rss: int
    returncode: int
    stdout: str
    stderr: str


def run_command(argv: Sequence[str], *, timeout: float = 600, cwd: Path | str | None = None,
                env: Mapping[str, str] | None = None) -> CommandRun:
    """Run a command once; its wall time, peak RSS (bytes), exit code and output."""
    with tempfile.TemporaryDirectory(prefix="divmon-bench-") as tmp:
        out = Path(tmp) / "run.json"
        full_env = dict(os.environ) if env is None else dict(env)
        rc, stdout, stderr = _run_killable([sys.executable, "-c", _LAUNCHER, json.dumps(list(argv)), str(out)],
                                           timeout, full_env, cwd)
        if rc != 0 or not out.exists():
            raise RuntimeError(f"launcher for {list(argv)[:3]} failed (exit {rc}): {_tail(stderr)}")
        data = json.loads(out.read_text())
    return CommandRun(data["seconds"], data["peak_rss"], data["returncode"], stdout, stderr)


@dataclass(frozen=True)
class TreeRun:
    seconds: float
    peak_tree_rss: int  # the largest sum of RSS over the process and all its descendants, sampled
    samples: int
    stdout: str


def run_tree(argv: Sequence[str], *, timeout: float = 3600, every: float = 0.02,
             env: Mapping[str, str] | None = None) -> TreeRun:
    """Run a command and sample the resident set of its whole process tree (worker processes included)
    every ``every`` seconds with psutil; the peak is the largest sum seen at one instant."""
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=errors, text=True, cwd=ROOT,
                                env=dict(env) if env is not None else _child_env(), start_new_session=True)
        peak, samples = 0, 0
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            if time.perf_counter() - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                raise RuntimeError(f"{list(argv)[:3]} timed out after {timeout:.0f} s")
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:  # a worker exiting between listing and reading
                        pass
            except psutil.Error:
                pass
            peak, samples = max(peak, total), samples + 1
            time.sleep(every)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{list(argv)[:3]} exited {proc.returncode}: {_tail(errors.read())}")
        out.seek(0)
        return TreeRun(seconds, peak, samples, out.read())


def divmon_command() -> tuple[list[str], str]:
    """How to start the CLI: the console script next to this interpreter, else the same entry point
    through ``python -c`` (monitor.cli has no __main__). Returns (argv prefix, description)."""
    script = Path(sys.executable).with_name("divmon")
    if script.exists():
        return [str(script)], "console script"
    return [sys.executable, "-c", "import sys; from monitor.cli import main; sys.exit(main())"], \
        "python -c 'from monitor.cli import main; main()'"


def cores() -> tuple[int, int]:
    """(cores this process may use — what nproc prints, cores in the machine)."""
    total = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = total
    return usable, total


# ------------------------------------------------------------------ discovery and running


def discover(package: str = "bench") -> dict[str, str]:
    """Short name ("store") -> module name ("bench.bench_store") for every bench_*.py of the package."""
    pkg = importlib.import_module(package)
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("bench_"))
    return {name.removeprefix("bench_"): f"{package}.{name}" for name in names}


def _clean_number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or (not isinstance(value, (int, float)) and not hasattr(value, "__float__")):
        raise TypeError(f"{what} must be a number or None, got {type(value).__name__}")
    number = float(value)
    return number if math.isfinite(number) else None


def _checked(module: str, item: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in KEYS if k not in item]
    if missing:
        raise ValueError(f"row {item.get('name')!r} lacks keys {missing}")
    out = dict(item)
    for key in ("value", "reference", "ratio"):
        out[key] = _clean_number(item[key], key)
    out["passed"] = None if item["passed"] is None else bool(item["passed"])
    out["note"] = str(item["note"] or "")
    out.update(module=module, error=None)
    return out


def run_module(short: str, module_name: str, quick: bool) -> list[dict[str, Any]]:
    """The module's rows, or one error row if it raised or returned something malformed."""
    try:
        module = importlib.import_module(module_name)
        rows = [_checked(short, item) for item in module.run(quick)]
        if not rows:
            raise ValueError("run() returned no rows")
        return rows
    except (Exception, SystemExit) as exc:  # a benchmark's failure is a result, not the end of the run
        sys.stderr.write(f"[bench] {short} raised:\n{traceback.format_exc()}")
        message = f"{type(exc).__name__}: {exc}"
        err = row(short, None, unit="", target="(module crashed)", note=message[:500])
        err.update(module=short, error=message[:500])
        return [err]
    finally:
        gc.collect()


# ------------------------------------------------------------------ output


def status(item: Mapping[str, Any]) -> str:
    if item.get("error"):
        return "ERROR"
    return {True: "pass", False: "MISS", None: "—"}[item["passed"]]


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.01 or x == 0:
        return f"{x:.3f}"
    return f"{x:.2e}"


def cpu_seconds() -> float:
    """User + system CPU of this process and of the subprocesses it has waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def summary(spent: Mapping[str, tuple[float, float]], load: float | None) -> str:
    """Totals and each module's wall and CPU seconds: CPU shows the cost when other load inflates wall time."""
    wall, cpu = sum(w for w, _ in spent.values()), sum(c for _, c in spent.values())
    at_start = f"; load average {load:.2f} at start" if load is not None else ""
    per_module = ", ".join(f"{name} {w:.1f} s/{c:.1f} s" for name, (w, c) in spent.items())
    return (f"{len(spent)} module(s) in {wall:.1f} s wall, {cpu:.1f} s CPU incl. subprocesses{at_start}\n"
            f"per module (wall/CPU): {per_module}")


def header(quick: bool) -> str:
    usable, total = cores()
    machine = f"{usable} cores" + (f" usable of {total}" if usable != total else "")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"divmon benchmarks, {'quick' if quick else 'full'} mode — {machine} (nproc), "
            f"Python {platform.python_version()}, {platform.system()} {platform.machine()}, {when}")


def format_table(rows: Sequence[Mapping[str, Any]], title: str) -> str:
    cols = ["benchmark", "value", "reference", "unit", "ratio", "target", "result", "note"]
    body = [[r["name"], _fmt(r["value"]), _fmt(r["reference"]), r["unit"],
             "—" if r["ratio"] is None else f"{r['ratio']:.2f}×", r["target"], status(r), r["note"]]
            for r in rows]
    widths = [max(len(str(line[i])) for line in [cols, *body]) for i in range(len(cols) - 1)]
    right = {1, 2, 4}

    def fmt(line: Sequence[str]) -> str:
        cells = [str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(line, widths))]
        return "  ".join([*cells, str(line[-1])]).rstrip()

    rule = "  ".join("-" * w for w in widths) + "  ----"
    return "\n".join([title, "", fmt(cols), rule, *(fmt(line) for line in body)])


def to_json(rows: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps([{k: r.get(k) for k in (*KEYS, "module", "error")} for r in rows], indent=2, ensure_ascii=False)


# ------------------------------------------------------------------ command line


def main(argv: Sequence[str] | None = None, package: str = "bench") -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the benchmarks and compare them "
                                     "with their targets (see bench/__init__.py for the exit status).")
    parser.add_argument("--quick", action="store_true", help="small sizes; the whole set in under two minutes")
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list (header on stderr)")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this module (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the benchmark modules and exit")
    parser.add_argument("--fail-on-miss", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    modules = discover(package)
    if args.list:
        sys.stdout.write("".join(f"{name}\n" for name in modules))
        return 0
    selected = dict(modules)
    if args.only:
        wanted = [name.removeprefix("bench_").removesuffix(".py") for name in args.only]
        unknown = [name for name in wanted if name not in modules]
        if unknown:
            sys.stderr.write(f"python -m bench: unknown benchmark(s) {unknown}; known: {sorted(modules)}\n")
            return 2
        selected = {name: modules[name] for name in modules if name in wanted}

    title = header(args.quick)
    sys.stderr.write(title + "\n")
    rows: list[dict[str, Any]] = []
    spent: dict[str, tuple[float, float]] = {}
    load = load_average()
    for short, module_name in selected.items():
        t0, c0 = time.perf_counter(), cpu_seconds()
        sys.stderr.write(f"[bench] {short} ...\n")
        sys.stderr.flush()
        rows.extend(run_module(short, module_name, args.quick))
        spent[short] = (time.perf_counter() - t0, cpu_seconds() - c0)
        sys.stderr.write(f"[bench] {short} done in {spent[short][0]:.1f} s (CPU {spent[short][1]:.1f} s)\n")

    if args.json:
        sys.stdout.write(to_json(rows) + "\n")
    else:
        sys.stdout.write(format_table(rows, title) + "\n\n" + summary(spent, load) + "\n")
    crashed = any(r["error"] for r in rows)
    missed = any(r["passed"] is False for r in rows)
    return 1 if crashed or (args.fail_on_miss and missed) else 0
