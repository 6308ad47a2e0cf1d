"""divergence-monitor: is a token's derivatives activity carried by on-chain adoption or by leverage?

The package imports nothing heavy at the top level so `divmon --help` stays fast; `check` is loaded
on first use.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "check"]


def check(token: str, **kwargs):
    """Poll (unless ``poll=False``), evaluate and return the verdict for one token."""
    from monitor.app import check as _check

    return _check(token, **kwargs)
