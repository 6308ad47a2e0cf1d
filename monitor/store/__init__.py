"""Storage of observations, events, source health, flags and deliveries (SQLAlchemy Core)."""

from monitor.store.bookkeeping import FlagTransitions
from monitor.store.store import Store, rows_from_frame

__all__ = ["FlagTransitions", "Store", "rows_from_frame"]
