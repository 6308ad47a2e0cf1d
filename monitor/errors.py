"""The project's error tree. Foreign exceptions are translated into these once per library.

Exit codes follow the monitoring-plugin convention where it applies (0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN); usage and configuration errors use 64 and 78 as in sysexits.h.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_WARNING = 1
EXIT_CRITICAL = 2
EXIT_UNKNOWN = 3
EXIT_USAGE = 64
EXIT_SOURCE = 69  # EX_UNAVAILABLE
EXIT_STORE = 74  # EX_IOERR
EXIT_NOTIFY = 75  # EX_TEMPFAIL
EXIT_CONFIG = 78  # EX_CONFIG


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose."""

    exit_code = EXIT_UNKNOWN


class ConfigError(MonitorError):
    """The configuration is wrong; the message names the YAML path or env var to fix."""

    exit_code = EXIT_CONFIG

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = list(problems or [])
        if self.problems:
            message = message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class SourceError(MonitorError):
    """A data source failed. ``transient`` says whether trying again later may help."""

    exit_code = EXIT_SOURCE
    transient = True

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        kind: str = "error",
    ):
        super().__init__(f"{source}: {message}" if source else message)
        self.source = source
        self.status = status
        self.retry_after = retry_after
        # kind feeds source health: error | throttled | banned | timeout | parse | auth | unsupported
        self.kind = kind


class TransientSourceError(SourceError):
    transient = True


class PermanentSourceError(SourceError):
    transient = False


class ParseError(PermanentSourceError):
    """A payload did not have the documented shape. Nothing from it is stored."""

    def __init__(self, message: str, *, source: str = "", status: int | None = None):
        super().__init__(message, source=source, status=status, kind="parse")


class UnsupportedError(PermanentSourceError):
    """The venue or source does not offer this data; recorded, never a crash."""

    def __init__(self, message: str, *, source: str = ""):
        super().__init__(message, source=source, kind="unsupported")


class StoreError(MonitorError):
    exit_code = EXIT_STORE


class NotifyError(MonitorError):
    exit_code = EXIT_NOTIFY

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent
