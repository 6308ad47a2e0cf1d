"""Apply storage.retention to the observations (`divmon prune`, the daemon's daily job, `run --once`)."""

from __future__ import annotations

import logging
from typing import Any

from monitor.timeutil import epoch_s, parse_duration

log = logging.getLogger(__name__)


def prune(app: Any) -> int:
    """Thin and drop observations past their retention; returns the number of points deleted."""
    now, rules = app.now(), app.config.storage.retention

    def cutoff(keep: str) -> int | None:
        return None if keep == "forever" else epoch_s(now - parse_duration(keep))

    deleted: int = app.store.prune_observations(cutoff(rules.hourly), cutoff(rules.daily))
    log.info("retention: %d observation(s) pruned (hourly kept %s, daily kept %s)", deleted, rules.hourly,
             rules.daily)
    return deleted
