"""Storage of observations, events, source health, flags and deliveries (SQLAlchemy Core)."""

from monitor.store.store import FlagTransitions, Store, rows_from_frame

__all__ = ["FlagTransitions", "Store", "rows_from_frame"]
