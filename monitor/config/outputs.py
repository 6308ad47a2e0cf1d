"""Storage, schedule, reports and delivery settings."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from monitor.config.base import ENV_NAME, Strict
from monitor.config.types import Duration, HeaderText

Severity = Literal["info", "warn", "high", "critical"]


class DigestConfig(Strict):
    cooldown: str = "2h"  # a flag re-firing this soon after it stopped continues its episode

    @field_validator("cooldown")
    @classmethod
    def _duration(cls, v: str) -> str:
        from monitor.timeutil import parse_duration

        parse_duration(v)
        return v


class EmailConfig(Strict):
    enabled: bool = False
    host: HeaderText = "127.0.0.1"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username_env: str | None = None
    password_env: str | None = None
    ca_file: str | None = None
    sender: HeaderText = "divmon@localhost"
    recipients: list[str] = []
    timeout_s: float = Field(30.0, gt=0)
    subject_prefix: HeaderText = "[divmon]"
    min_severity: Severity = "warn"  # flags below this are left out of this channel's digest
    alert_critical: bool = False  # also send one immediate alert per new critical episode

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for addr in v:
            if not re.fullmatch(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+", addr):
                raise ValueError(f"{addr!r} is not a plain address like name@example.org")
        return v

    @field_validator("username_env", "password_env")
    @classmethod
    def _env_names(cls, v: str | None) -> str | None:
        if v is not None and not ENV_NAME.match(v):
            raise ValueError("must be the NAME of an environment variable (A-Z, 0-9, _), not the secret")
        return v


class WebhookConfig(Strict):
    enabled: bool = False
    url_env: str = "DIVMON_WEBHOOK_URL"  # the URL often embeds a token, so it is a secret too
    style: Literal["slack", "discord", "telegram", "generic"] = "generic"
    timeout_s: float = Field(10.0, gt=0)
    min_severity: Severity = "warn"
    alert_critical: bool = False

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not ENV_NAME.match(v):
            raise ValueError("must be the NAME of an environment variable holding the URL, not the URL")
        return v


class ScheduleConfig(Strict):
    evaluate: str = "*/15 * * * *"  # cron, UTC
    report: str = "0 * * * *"
    digest: str = "0 8 * * *"
    digest_period: Literal["hour", "day", "week"] = "day"
    misfire_grace_s: int = Field(300, ge=1)
    heartbeat_s: int = Field(30, ge=1)
    metrics_port: int | None = Field(None, ge=0, le=65535)  # Prometheus endpoint on 127.0.0.1 when set
    shutdown_grace_s: int = Field(10, ge=1, le=600)  # SIGTERM: wait this long for running jobs
    serve: bool = False  # run the dashboard (serve.host:serve.port) inside `divmon run`

    @field_validator("evaluate", "report", "digest")
    @classmethod
    def _cron(cls, v: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger(**cls.cron_fields(v), timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"not a 5-field cron expression: {exc}") from None
        return v

    @staticmethod
    def cron_fields(expr: str) -> dict[str, str]:
        """Standard crontab -> APScheduler CronTrigger fields. Day-of-week numbers follow crontab
        (0 or 7 = Sunday); APScheduler's from_crontab would read 0 as Monday, so they become names."""
        parts = expr.split()
        if len(parts) != 5:
            raise ValueError(f"expected 5 fields, got {len(parts)}")
        names = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        days = []
        for item in parts[4].split(","):
            spec, _, step = item.partition("/")
            if not re.fullmatch(r"\*|\d+(-\d+)?", spec):
                days.append(item)  # names such as mon-fri pass through unchanged
                continue
            lo, _, hi = ("0-7" if spec == "*" else spec).partition("-")
            if spec != "*" and not hi and not step:
                hi = lo
            hi = hi or "7"
            if int(lo) > 7 or int(hi) > 7:
                raise ValueError(f"day of week {item!r} out of range 0-7")
            if spec == "*" and not step:
                days.append("*")
                continue
            days += [names[d] for d in range(int(lo), int(hi) + 1, int(step or 1))]
        dow = "*" if "*" in days else ",".join(dict.fromkeys(days))
        minute, hour, day, month = parts[:4]
        return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": dow}


class ServeConfig(Strict):
    """`divmon serve`: the read-only dashboard and JSON API."""

    host: str = "127.0.0.1"
    port: int = Field(8787, ge=0, le=65535)
    auth_token_env: str | None = None  # NAME of the env var holding a bearer token; needed off loopback
    refresh_s: float = Field(60.0, ge=1)  # re-judge at least this often while the data does not change

    @field_validator("auth_token_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not ENV_NAME.match(v):
            raise ValueError("must be the NAME of an environment variable holding the token, not the token")
        return v


class ReportConfig(Strict):
    out_dir: str = "reports"
    formats: list[Literal["html", "md", "json"]] = ["html", "md", "json"]
    chart_days: int = Field(30, ge=1, le=3650)
    url: str | None = None  # where the full report is published; digests link to it when set

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"https?://[^\s\"'<>\\]+", v):
            raise ValueError("must be an http:// or https:// URL (it becomes a link in digests)")
        return v


class RetentionConfig(Strict):
    """How long observations are kept, per granularity (README: growth per token and day)."""

    hourly: Duration | Literal["forever"] = "forever"  # points within a day; older ones thinned to 00:00 UTC
    daily: Duration | Literal["forever"] = "forever"  # every point older than this goes


class StorageConfig(Strict):
    url: str = "sqlite:///divmon.db"
    busy_timeout_s: float = Field(30.0, gt=0)
    integrity_check_every: Duration = "1d"  # SQLite quick_check at open, repeated once a pass is older than this
    health_retention: Duration = "35d"  # request health older than this is pruned after each poll
    cache_dir: str = ".divmon-cache"  # markets, Dune query ids; relative paths follow the config file
    retention: RetentionConfig = RetentionConfig()  # applied by `divmon prune` and the daemon (daily)
