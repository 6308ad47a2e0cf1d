"""Signals: pure functions from stored series and events to flags and a verdict (no I/O here)."""

from monitor.signals.inputs import TokenInputs
from monitor.signals.verdict import ADOPTION, INSUFFICIENT, MIXED, SPECULATION, evaluate

__all__ = ["ADOPTION", "INSUFFICIENT", "MIXED", "SPECULATION", "TokenInputs", "evaluate"]
