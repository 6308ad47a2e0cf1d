"""Issue 14: a 100 MB answer must not take the process's memory with it (measured in a child process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.faults.faultserver import FaultServer

ROOT = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent("""
    import resource, sys
    from monitor.app import App
    from monitor.config import parse_config
    from monitor.sources import chain

    app = App(parse_config({"network": {"allow_loopback": True},
                            "sources": {"chain": {"base_url": sys.argv[1], "max_retries": 0, "deadline_s": 20}}}))
    rpc = chain.build("chain", app.config.sources.chain, app.context()).rpc("ethereum")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    try:
        rpc.call("eth_blockNumber", [])
        outcome = "read"
    except Exception as exc:
        outcome = type(exc).__name__ + ": " + str(exc)[:120]
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(before, after, outcome)
""")


def test_a_100_mb_answer_leaves_rss_bounded():
    with FaultServer("oversized", body_size=100 * 1024 * 1024, lifetime_s=30) as server:
        done = subprocess.run([sys.executable, "-c", CHILD, server.url + "rpc"], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after, outcome = done.stdout.split(" ", 2)
    assert "cap" in outcome, outcome
    # the default cap is 32 MB for a source; a whole 100 MB body plus its decoded copies is several times that
    assert int(after) - int(before) < 80, f"RSS grew from {before} MB to {after} MB on a 100 MB answer"
