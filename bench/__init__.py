"""Benchmarks with their targets: ``python -m bench [--quick] [--json] [--only NAME ...]``.

Every module ``bench/bench_<name>.py`` exposes ``run(quick: bool) -> list[dict]``; each dict is one
row with the keys name, value, reference, unit, ratio, target, passed and note (see
``bench.harness.row``). The target sits in the module's docstring, next to the code that measures it.
The reference is measured in the same run, and ratios, not absolute times, are compared: machines
here drift ~20% between runs, so every figure is the median of several runs.

``--quick`` uses small sizes (the whole set in under two minutes on 2 cores); without it the sizes of
issue 8 apply. ``--only NAME`` (repeatable; ``store`` or ``bench_store``) selects modules.

Exit status:
  0  every selected module ran, whether or not its targets were met (CI checks that the benchmarks
     run, not their timings; a missed target shows as MISS in the table and passed=false in JSON);
  1  at least one module raised (its error row reads ERROR) — CI fails, so benchmarks cannot rot;
     also with ``--fail-on-miss`` when a target was missed;
  2  usage error (unknown option or unknown ``--only`` name).

A module that raises never stops the run: it becomes one error row and the next module runs.
"""
