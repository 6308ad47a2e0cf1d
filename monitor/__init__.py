"""divergence-monitor: is a token's derivatives activity carried by on-chain adoption or by leverage?

The package imports nothing heavy at the top level so `divmon --help` stays fast; `check` is loaded
on first use.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers read it as True)
if TYPE_CHECKING:
    from typing import Any

    from monitor.model import Verdict

__version__ = "0.1.0"
__all__ = ["__version__", "check"]


def check(token: str, **kwargs: Any) -> Verdict:
    """Poll (unless ``poll=False``), evaluate and return the verdict for one token."""
    from monitor.app import check as _check

    return _check(token, **kwargs)
