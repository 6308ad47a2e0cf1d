"""Secret canaries: recognisable fake values for every key env var, and the one assertion every leak
check uses. Extend to reports and e-mails by passing their text or bytes to ``assert_no_canary``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import quote, quote_plus

# Characters that URL-encode differently (+ / = &) make the encoded forms differ from the raw ones.
CANARIES = {
    "COINGLASS_API_KEY": "cnry-cg+7Qz/x=1",
    "COINGECKO_API_KEY": "cnry-gecko-5kT9&b",
    "DUNE_API_KEY": "cnry-dune-Vb8n2Lw",
    "ETHERSCAN_API_KEY": "cnry-es+Z3K&p=9",
    "GITHUB_TOKEN": "cnry_ghp_7yXk2mQ",
    "DIVMON_SMTP_USER": "cnry-smtp-user@example.org",
    "DIVMON_SMTP_PASSWORD": "cnry-smtp-pw/Q7+r",
    "DIVMON_WEBHOOK_URL": "https://hooks.example.org/services/cnry-hook-T9w",
}


def forms(value: str) -> set[str]:
    """The raw value and each way it can appear in a URL or form body."""
    return {value, quote(value, safe=""), quote(value), quote_plus(value)}


def all_forms() -> Iterator[tuple[str, str]]:
    for name, value in CANARIES.items():
        for form in forms(value):
            yield name, form


def canary_hits(data: str | bytes, extra: Iterable[str] = ()) -> list[str]:
    """Names of the env vars whose canary (raw or URL-encoded) occurs in data."""
    hits = []
    pairs = list(all_forms()) + [(value, value) for value in extra]
    for name, form in pairs:
        needle: str | bytes = form.encode() if isinstance(data, bytes) else form
        if needle in data:
            hits.append(name)
    return sorted(set(hits))


def assert_no_canary(data: str | bytes, where: str = "output") -> None:
    hits = canary_hits(data)
    assert not hits, f"secret canary of {hits} found in {where}"


def exception_chain_text(exc: BaseException | None) -> str:
    """str and repr of an exception and everything it chains to, suppressed context included: a
    debugger, Sentry or `raise ... from` elsewhere may still show it."""
    parts, seen, todo = [], set(), [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts += [str(current), repr(current), repr(getattr(current, "args", ()))]
        todo += [current.__cause__, current.__context__]
    return "\n".join(parts)


def fragment_hits(data: str, min_len: int = 8) -> list[str]:
    """Names of the env vars of which any ``min_len``-character piece (raw or URL-encoded) occurs in data:
    a secret cut in half by a length limit still leaks its half."""
    hits = set()
    for name, form in all_forms():
        if any(form[i:i + min_len] in data for i in range(len(form) - min_len + 1)):
            hits.add(name)
    return sorted(hits)
