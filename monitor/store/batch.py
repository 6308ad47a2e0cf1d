"""Observation batches: a long frame or key tuples -> series segments in primary-key order.

A batch holds each series' key once and its epoch-second timestamps and values as plain lists, so the
writers stream rows out of C iterators (no million-tuple list) and split old from new rows by bisection.
A key repeated inside a batch keeps its last row, as make_frame does.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from itertools import chain, pairwise, repeat

import numpy as np
import pandas as pd

from monitor.errors import StoreError

ObsRow = tuple[str, str, str, int, float]  # token, metric, source, ts (epoch s), value
SeriesKey = tuple[str, str, str]  # token, metric, source
Segment = tuple[SeriesKey, int, int]  # a series and its [start, end) slice of the batch

# Below this many rows plain Python beats numpy's and pandas' fixed cost per call (bench: per-fetch writes).
SMALL = 256
_COLUMNS = ("ts", "source", "token", "metric", "value")
_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


class Batch:
    __slots__ = ("segments", "ts", "values")

    def __init__(self, segments: list[Segment], ts: list[int], values: list[float]):
        self.segments, self.ts, self.values = segments, ts, values

    def __len__(self) -> int:
        return len(self.ts)

    def bounds(self) -> dict[SeriesKey, tuple[int, int]]:
        """{series: (first ts, last ts)} of this batch."""
        return {key: (self.ts[a], self.ts[b - 1]) for key, a, b in self.segments}

    def split(self, last_known: dict[SeriesKey, int]) -> tuple[list[Segment], list[Segment]]:
        """(parts at or before their series' stored last ts: may conflict, parts after it: cannot)."""
        old: list[Segment] = []
        new: list[Segment] = []
        for key, a, b in self.segments:
            last = last_known.get(key)
            cut = a if last is None else bisect_right(self.ts, last, a, b)
            if cut > a:
                old.append((key, a, cut))
            if cut < b:
                new.append((key, cut, b))
        return old, new

    def rows(self, segments: list[Segment] | None = None) -> Iterator[ObsRow]:
        """Key-ordered (token, metric, source, ts, value) tuples of the given segments, made lazily in C."""
        ts, values = self.ts, self.values
        return chain.from_iterable(
            zip(repeat(t, b - a), repeat(m, b - a), repeat(s, b - a), ts[a:b], values[a:b])
            for (t, m, s), a, b in (self.segments if segments is None else segments)
        )


def from_rows(rows: Iterable[ObsRow]) -> Batch:
    """Key tuples in any order -> batch (last row of a repeated key wins); rejects non-finite values."""
    latest = {(str(t), str(m), str(s), int(ts)): float(v) for t, m, s, ts, v in rows}
    bad = sum(1 for v in latest.values() if not math.isfinite(v))
    if bad:
        raise StoreError(f"{bad} observation(s) have non-finite values; nothing was written")
    segments: list[Segment] = []
    stamps: list[int] = []
    values: list[float] = []
    for i, ((t, m, s, ts), v) in enumerate(sorted(latest.items())):
        if not segments or segments[-1][0] != (t, m, s):
            if segments:
                segments[-1] = (segments[-1][0], segments[-1][1], i)
            segments.append(((t, m, s), i, i))
        stamps.append(ts)
        values.append(v)
    if segments:
        segments[-1] = (segments[-1][0], segments[-1][1], len(stamps))
    return Batch(segments, stamps, values)


def from_frame(frame: pd.DataFrame) -> Batch:
    """Long frame (ts, source, token, metric, value) -> batch; rejects non-finite values and missing ts."""
    if frame.empty:
        return Batch([], [], [])
    missing = set(_COLUMNS) - set(frame.columns)
    if missing:
        raise StoreError(f"observation frame lacks columns {sorted(missing)}")
    secs = _epoch_seconds(frame["ts"])
    if len(frame) <= SMALL:  # from_rows makes them str, int and float: no pandas conversion per column
        columns = [frame[c].tolist() for c in ("token", "metric", "source")]
        return from_rows(zip(*columns, secs.tolist(), frame["value"].tolist(), strict=True))
    values = frame["value"].to_numpy(dtype="float64")
    bad = ~np.isfinite(values)
    if bad.any():
        raise StoreError(f"{int(bad.sum())} observation(s) have non-finite values; nothing was written")
    names = [frame[c].astype(str).to_numpy(dtype=object) for c in ("token", "metric", "source")]
    if not _in_key_order(names, secs):  # sources hand frames over in key order: checked in a few vector passes
        order = np.lexsort((secs, *(_ranked(n) for n in reversed(names))))  # stable: repeats keep input order
        names, secs, values = [n[order] for n in names], secs[order], values[order]
    new_series = _new_series(names)
    repeated = ~new_series & (secs[1:] == secs[:-1])
    if repeated.any():  # keep the last row of each repeated key
        keep = np.append(~repeated, True)
        names, secs, values = [n[keep] for n in names], secs[keep], values[keep]
        new_series = new_series[keep[:-1]]  # pair (i, next kept) changes series iff (i, i + 1) does
    starts = [0, *(np.flatnonzero(new_series) + 1).tolist()]
    ends = [*starts[1:], len(secs)]
    segments = [((names[0][a], names[1][a], names[2][a]), a, b) for a, b in zip(starts, ends, strict=True)]
    return Batch(segments, secs.tolist(), values.tolist())


def _epoch_seconds(column: pd.Series) -> np.ndarray:
    if not isinstance(column.dtype, pd.DatetimeTZDtype):
        column = pd.to_datetime(column, utc=True)
    arr = column.array
    if arr.isna().any():
        raise StoreError(f"{int(arr.isna().sum())} observation(s) have no timestamp; nothing was written")
    secs: np.ndarray = arr.asi8 // _PER_SECOND[arr.unit]
    return secs


def _new_series(names: list[np.ndarray]) -> np.ndarray:
    """For each row after the first: whether its series differs from the previous row's."""
    changed: np.ndarray = (names[0][1:] != names[0][:-1]) | (names[1][1:] != names[1][:-1]) | (names[2][1:] != names[2][:-1])
    return changed


def _ranked(column: np.ndarray) -> np.ndarray:
    """Integer codes that sort like the strings: factorize, then rank the few distinct values."""
    codes, uniques = pd.factorize(column)
    distinct = [str(u) for u in uniques]
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[sorted(range(len(distinct)), key=distinct.__getitem__)] = np.arange(len(distinct))
    return rank[codes]


def _in_key_order(names: list[np.ndarray], secs: np.ndarray) -> bool:
    """Whether rows are non-decreasing like (token, metric, source, ts) tuples: each series one run, the
    runs in order, ts non-decreasing within a run. Compares neighbours only (no hashing, no sort)."""
    new_series = _new_series(names)
    if (~new_series & (secs[1:] < secs[:-1])).any():
        return False
    starts = [0, *(np.flatnonzero(new_series) + 1).tolist()]
    keys = [(names[0][a], names[1][a], names[2][a]) for a in starts]
    return all(a < b for a, b in pairwise(keys))
