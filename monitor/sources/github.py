"""GitHub developer activity of the configured repositories, weekly.

dev_commits: ``stats/commit_activity`` totals per week, minus the commits bots made that week (from
``stats/contributors``). dev_contributors: authors with at least one commit that week, bots excluded
(``type == "Bot"`` or a login ending in ``[bot]``). Repositories that are forks are skipped: their
history is someone else's.

The statistics endpoints answer 202 while GitHub computes them; that is retried ``stats_attempts``
times with ``stats_wait_s`` between, then reported as a "pending" TransientSourceError — never as zero.
``x-ratelimit-remaining: 0`` blocks the host until ``x-ratelimit-reset``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.errors import ParseError, PermanentSourceError, TransientSourceError
from monitor.model import DEV_COMMITS, DEV_CONTRIBUTORS
from monitor.sources.base import FetchResult, Record, make_frame, require, to_float
from monitor.sources.http import HttpClient
from monitor.timeutil import epoch_s, parse_retry_after

if TYPE_CHECKING:
    from monitor.config import GitHubConfig
    from monitor.sources.base import SourceContext


log = logging.getLogger(__name__)

WEEK = 7 * 86_400


def is_bot(author: Any) -> bool:
    if not isinstance(author, dict):
        return False
    login = str(author.get("login") or "")
    return author.get("type") == "Bot" or login.lower().endswith("[bot]")


def parse_commit_activity(payload: Any) -> dict[int, int]:
    """stats/commit_activity -> {week start (unix s): commits}."""
    if not isinstance(payload, list):
        raise ParseError("commit_activity: expected a list of weeks", source="github")
    out: dict[int, int] = {}
    for i, row in enumerate(payload):
        w = f"commit_activity[{i}]"
        week = int(to_float(require(row, "week", source="github", where=w), f"{w}.week", source="github",
                            allow_negative=False))
        out[week] = int(to_float(require(row, "total", source="github", where=w), f"{w}.total", source="github",
                                 allow_negative=False))
    return out


def parse_contributors(payload: Any, *, exclude_bots: bool = True) -> tuple[dict[int, set[str]], dict[int, int]]:
    """stats/contributors -> ({week: human logins with commits}, {week: bot commits})."""
    if not isinstance(payload, list):
        raise ParseError("contributors: expected a list", source="github")
    humans: dict[int, set[str]] = {}
    bots: dict[int, int] = {}
    for i, row in enumerate(payload):
        w = f"contributors[{i}]"
        author = require(row, "author", source="github", where=w)
        login = str(author.get("login") if isinstance(author, dict) else f"anonymous-{i}")
        bot = exclude_bots and is_bot(author)
        weeks = require(row, "weeks", source="github", where=w)
        if not isinstance(weeks, list):
            raise ParseError(f"{w}.weeks: expected a list", source="github")
        for j, week in enumerate(weeks):
            ww = f"{w}.weeks[{j}]"
            start = int(to_float(require(week, "w", source="github", where=ww), f"{ww}.w", source="github",
                                 allow_negative=False))
            commits = int(to_float(require(week, "c", source="github", where=ww), f"{ww}.c", source="github",
                                   allow_negative=False))
            if commits <= 0:
                continue
            if bot:
                bots[start] = bots.get(start, 0) + commits
            else:
                humans.setdefault(start, set()).add(login)
    return humans, bots


def weekly_records(token: str, commits: dict[int, int], humans: dict[int, set[str]], bots: dict[int, int],
                   since: int, until: int) -> list[Record]:
    """Weeks of one repository -> (commits, contributors) records inside [week of since, until]."""
    first = since - (since - 3 * 86_400) % WEEK  # GitHub weeks start Sunday 00:00 UTC (epoch was a Thursday)
    out = []
    for week in sorted(commits):
        if week < first or week > until:
            continue
        out.append((week, "github", token, DEV_COMMITS, float(max(0, commits[week] - bots.get(week, 0)))))
        out.append((week, "github", token, DEV_CONTRIBUTORS, float(len(humans.get(week, ())))))
    return out


class GitHubSource:
    concurrency = 1

    def __init__(self, name: str, cfg: GitHubConfig, ctx: SourceContext, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        self.name = name
        self.cfg = cfg
        self.ctx = ctx
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        token = ctx.secrets.get(cfg.api_key_env)
        if token:
            headers["Authorization"] = f"Bearer {token}"
            ctx.redactor.add([token])
        self.http = HttpClient.from_config(
            name, cfg, session=ctx.session_factory(), limiter=ctx.limiters.get(name, cfg.rate_limit_per_s, cfg.burst),
            redactor=ctx.redactor, health=ctx.health, headers=headers, sleep=sleep,
        )
        self._sleep = sleep
        self._clock = clock  # wall clock, to turn x-ratelimit-reset (unix s) into a wait

    def get(self, path: str, *, token: str, stats: bool = False) -> Any:
        """GET with GitHub's rate-limit headers honoured; stats endpoints re-polled while 202."""
        attempts = self.cfg.stats_attempts if stats else 1
        for attempt in range(1, attempts + 1):
            resp = self.http.request("GET", path, token=token, ok_statuses=(200, 202, 403, 429))
            remaining = resp.headers.get("x-ratelimit-remaining", resp.headers.get("X-RateLimit-Remaining"))
            if resp.status in (403, 429) or remaining == "0":
                wait = self._rate_limit_wait(resp)
                if resp.status in (403, 429):
                    if wait is None:
                        hint = f"check {self.cfg.api_key_env}" if self.cfg.api_key_env else "access denied"
                        raise PermanentSourceError(f"HTTP {resp.status} on {path}: {hint}", source=self.name,
                                                   status=resp.status, kind="auth")
                    self.http.limiter.block_for(wait)
                    raise TransientSourceError(f"rate limit exhausted; no request for {wait:.0f}s",
                                               source=self.name, status=resp.status, kind="throttled",
                                               retry_after=wait)
                if wait:
                    self.http.limiter.block_for(wait)  # this answer is fine; the next one would be refused
            if resp.status == 202:
                if attempt < attempts:
                    log.info("%s: %s is being computed (202); asking again in %.1fs", self.name, path,
                             self.cfg.stats_wait_s)
                    self._sleep(self.cfg.stats_wait_s)
                continue
            return resp.json()
        raise TransientSourceError(f"{path}: statistics still being computed after {attempts} tries",
                                   source=self.name, kind="pending", retry_after=self.cfg.stats_wait_s * 10)

    def _rate_limit_wait(self, resp: Any) -> float | None:
        retry_after = parse_retry_after(resp.headers.get("retry-after") or resp.headers.get("Retry-After"))
        if retry_after is not None:
            return min(retry_after, self.cfg.max_retry_after_s)
        remaining = resp.headers.get("x-ratelimit-remaining", resp.headers.get("X-RateLimit-Remaining"))
        reset = resp.headers.get("x-ratelimit-reset", resp.headers.get("X-RateLimit-Reset"))
        if remaining == "0" and reset and str(reset).isdigit():
            return min(max(1.0, int(reset) - self._clock()), self.cfg.max_retry_after_s)
        if remaining == "0":
            return 60.0
        if resp.status == 429 or b"rate limit" in resp.body[:500].lower():  # secondary limits may omit headers
            return 60.0
        return None

    def fetch(self, token_cfg: Any, since: datetime, until: datetime) -> FetchResult:
        result = FetchResult(self.name, token_cfg.symbol)
        if not token_cfg.github_repos:
            result.unsupported += [DEV_COMMITS, DEV_CONTRIBUTORS]
            return result
        totals: dict[tuple[int, str], float] = {}
        people: dict[int, set[str]] = {}  # one person active in two repos counts once
        symbol = token_cfg.symbol
        for repo in token_cfg.github_repos:
            meta = self.get(f"repos/{repo}", token=symbol)
            if isinstance(meta, dict) and meta.get("fork") is True:
                result.notes.append(f"{repo} is a fork; skipped")
                continue
            commits = parse_commit_activity(self.get(f"repos/{repo}/stats/commit_activity", token=symbol,
                                                     stats=True))
            humans, bots = parse_contributors(
                self.get(f"repos/{repo}/stats/contributors", token=symbol, stats=True),
                exclude_bots=self.cfg.exclude_bots,
            )
            for ts, _, _, metric, value in weekly_records(symbol, commits, humans, bots, epoch_s(since),
                                                          epoch_s(until)):
                if metric == DEV_COMMITS:
                    totals[(ts, metric)] = totals.get((ts, metric), 0.0) + value
                else:
                    people.setdefault(ts, set()).update(humans.get(ts, ()))
        for ts, logins in people.items():
            totals[(ts, DEV_CONTRIBUTORS)] = float(len(logins))
        result.observations = make_frame((ts, self.name, symbol, metric, v) for (ts, metric), v in totals.items())
        return result


def build(name: str, cfg: GitHubConfig, ctx: SourceContext) -> GitHubSource:
    return GitHubSource(name, cfg, ctx)
