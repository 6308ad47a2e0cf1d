"""Flag episodes -> what a digest says happened in a window (pure: no I/O, no clock).

The store keeps one row per episode (token, rule, first_seen .. resolved_at). Before they are
reported, episodes of one (token, rule) that re-open within ``cooldown`` of closing are merged, and an
episode only counts as resolved once it has stayed quiet for the whole cool-down: a condition that
flaps every 15 minutes is one ongoing episode, not three new ones an hour.

Sections, in (since, until]:

- new: opened in the window;
- escalated: open before the window and more severe than the last digest said;
- ongoing: open before the window and still firing;
- resolved: quiet for the cool-down while its data kept coming;
- dark: the token has no fresh data, so neither "still firing" nor "resolved" is known.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from monitor.model import SEVERITY_ORDER

SECTIONS = ("new", "escalated", "ongoing", "resolved", "dark")


@dataclass(frozen=True)
class Episode:
    token: str
    rule: str
    severity: str  # the latest
    message: str
    evidence: dict[str, Any]
    first_seen: int  # epoch seconds of the first merged episode: the identity across re-opens
    last_seen: int
    resolved_at: int | None  # of the last merged episode; None while it fires
    reopened: int = 0  # how many re-opens the cool-down merged
    was: str | None = None  # severity the previous digest reported (escalations)

    @property
    def key(self) -> str:
        return f"{self.token}|{self.rule}|{self.first_seen}"


def rank(severity: str) -> int:
    return SEVERITY_ORDER.get(severity, 0)


def merge(rows: list[dict[str, Any]], cooldown_s: int) -> list[Episode]:
    """Store flag rows -> episodes, re-opens within the cool-down folded into the episode before."""
    out: list[Episode] = []
    last: dict[tuple[str, str], int] = {}
    for r in sorted(rows, key=lambda r: (r["token"], r["rule"], r["first_seen"])):
        ep = Episode(r["token"], r["rule"], r["severity"], r.get("message") or "", dict(r.get("evidence") or {}),
                     int(r["first_seen"]), int(r["last_seen"]),
                     None if r.get("resolved_at") is None else int(r["resolved_at"]))
        i = last.get((ep.token, ep.rule))
        if i is not None:
            prev = out[i]
            if prev.resolved_at is not None and ep.first_seen - prev.resolved_at <= cooldown_s:
                out[i] = replace(ep, first_seen=prev.first_seen, reopened=prev.reopened + 1)
                continue
        last[(ep.token, ep.rule)] = len(out)
        out.append(ep)
    return out


@dataclass(frozen=True)
class Sections:
    new: tuple[Episode, ...] = ()
    escalated: tuple[Episode, ...] = ()
    ongoing: tuple[Episode, ...] = ()
    resolved: tuple[Episode, ...] = ()
    dark: tuple[Episode, ...] = ()
    newly_dark: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in SECTIONS}

    @property
    def worth_sending(self) -> bool:
        """Changes drive a send; an episode that merely persists (or stays dark) is listed, never a reason."""
        return bool(self.new or self.escalated or self.resolved or self.newly_dark)

    def state(self) -> dict[str, list[str]]:
        """What this digest said about each open or dark episode: key -> [severity, section]; the next
        digest compares against it (escalations, newly dark)."""
        out = {}
        for name in ("new", "escalated", "ongoing", "dark"):
            for ep in getattr(self, name):
                out[ep.key] = [ep.severity, "dark" if name == "dark" else "open"]
        return out


@dataclass(frozen=True)
class Digest:
    """One channel's digest for one period: what changed, plus what the renderers show beside it."""

    period: str
    since: int
    until: int
    sections: Sections
    labels: dict[str, str]  # token -> verdict label, when the run judged it
    charts: dict[str, bytes]  # token -> PNG
    report_url: str | None = None


def classify(episodes: list[Episode], since: int, until: int, *, cooldown_s: int, min_severity: str,
             dark_tokens: frozenset[str] | set[str], reported: dict[str, list[str]]) -> Sections:
    """Sort episodes into the digest's sections for the window (since, until].

    ``reported`` is the previous digest's ``Sections.state()``; ``dark_tokens`` the tokens with no fresh
    data at ``until``."""
    floor = rank(min_severity)
    parts: dict[str, list[Episode]] = {name: [] for name in SECTIONS}
    newly_dark = 0
    for ep in episodes:
        closed = None if ep.resolved_at is None else ep.resolved_at + cooldown_s
        if ep.first_seen > until or (closed is not None and closed <= since):
            continue
        if rank(ep.severity) < floor:
            continue
        before = reported.get(ep.key)
        if closed is not None and closed <= until and ep.token not in dark_tokens:
            section = "resolved"  # also when it opened in this window: the reader learns both
        elif ep.first_seen > since:
            section = "new"
        elif ep.token in dark_tokens:
            section = "dark"
            newly_dark += before is not None and before[1] != "dark"
        elif before is not None and rank(ep.severity) > rank(before[0]):
            section = "escalated"
            ep = replace(ep, was=before[0])
        else:
            section = "ongoing"
        parts[section].append(ep)

    def order(eps: list[Episode]) -> tuple[Episode, ...]:
        return tuple(sorted(eps, key=lambda e: (-rank(e.severity), e.token, e.rule)))

    return Sections(**{name: order(eps) for name, eps in parts.items()}, newly_dark=newly_dark)


def alert_due(episodes: list[Episode], dark_tokens: frozenset[str] | set[str]) -> list[Episode]:
    """Firing critical episodes with fresh data: each gets one immediate alert (deduped by Episode.key)."""
    return [ep for ep in episodes if ep.severity == "critical" and ep.resolved_at is None and ep.token not in dark_tokens]
