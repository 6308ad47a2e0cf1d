"""The HTTP client of the REST sources (CoinGecko, DefiLlama, CoinGlass, Dune, GitHub, Etherscan). ccxt and
web3 keep their own clients on a session hardened by ``transport.harden`` instead.

Every call has connect and read timeouts and a whole-request deadline (a 1 byte/s trickle cannot hold
it open), a size cap, the shared retry policy (``retry.py``: backoff with jitter, Retry-After honoured,
bans respected), and translation of every foreign failure into SourceError. Each attempt's outcome goes
to a HealthLog.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from monitor import netpolicy
from monitor.errors import ParseError, PermanentSourceError, SourceError, TransientSourceError
from monitor.sources import retry as retries
from monitor.sources import transport
from monitor.sources.health import HealthLog
from monitor.sources.ratelimit import RateLimiter
from monitor.sources.redact import Redactor, install_library_log_filter

log = logging.getLogger(__name__)
install_library_log_filter()  # urllib3 logs every request line, query string (apikey=...) included

_THROTTLE_WORDS = ("too many", "too frequent", "rate limit", "ratelimit")


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str  # redacted
    redact: Callable[[str], str] | None = None  # applied to parse-error snippets (upstreams echo keys)

    def json(self) -> Any:
        return parse_json(self.body, source=self.url, redact=self.redact)


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name}")


def parse_json(body: bytes, *, source: str = "", redact: Callable[[str], str] | None = None) -> Any:
    """Strict JSON: NaN/Infinity and overflowing numbers (1e309) are parse errors, not floats."""
    try:
        return json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_float_sized_int)
    except (ValueError, UnicodeDecodeError) as exc:
        problem = str(exc)[:80]
    text = snippet(body, 600)  # redacted before the cut to 120: a key straddling the cut is still whole
    text = (redact(text) if redact is not None else text)[:120]
    # raised outside the except block: no __context__ carrying the raw body
    raise ParseError(f"body is not valid JSON ({problem}): {text!r}", source=source)


def _float_sized_int(text: str) -> int:
    # an integer no float can hold (float() would raise OverflowError downstream) is out of range too
    if len(text.lstrip("-")) > 308:
        raise ValueError(f"number out of range: {text[:20]}...")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def host_problem(host: str) -> str | None:
    """Last line of defence behind the config check (loopback and private hosts were the config's call)."""
    return netpolicy.host_problem(host, allow_loopback=True, allow_private=True)


def snippet(body: bytes, n: int = 120) -> str:
    return body[:n].decode("utf-8", "replace").replace("\n", " ").strip()


def looks_like_html(body: bytes, content_type: str = "") -> bool:
    head = body[:512].lstrip().lower()
    return "text/html" in content_type.lower() or head.startswith((b"<!doctype", b"<html", b"<head", b"<body"))


class HttpClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        session: requests.Session | None = None,
        limiter: RateLimiter | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        deadline_s: float = 60.0,
        max_retries: int = 4,
        max_retry_after_s: float = 900.0,
        max_body_bytes: int = transport.DEFAULT_MAX_BODY_BYTES,
        headers: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        key_env: str | None = None,
        health: HealthLog | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base_s: float = 0.5,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/") + "/"
        self._host = urlsplit(self.base_url).netloc
        self.session = transport.harden(session or requests.Session(), deadline_s=deadline_s,
                                        max_body_bytes=max_body_bytes)
        self.limiter = limiter or RateLimiter(1000.0)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline_s = deadline_s
        self.max_retry_after_s = max_retry_after_s
        self.max_body_bytes = max_body_bytes
        self.headers = dict(headers or {})
        self.redact = redactor or Redactor()
        self.redact.add(v for k, v in self.headers.items() if k.lower() not in ("accept", "user-agent"))
        self.key_env = key_env
        self.health = health or HealthLog()
        self._clock = clock
        self.policy = retries.RetryPolicy(max_retries, backoff_base_s, clock=clock, sleep=sleep)

    @property
    def max_retries(self) -> int:
        return self.policy.max_retries

    @max_retries.setter
    def max_retries(self, value: int) -> None:
        self.policy.max_retries = value

    @property
    def backoff_base_s(self) -> float:
        return self.policy.backoff_base_s

    @backoff_base_s.setter
    def backoff_base_s(self, value: float) -> None:
        self.policy.backoff_base_s = value

    @classmethod
    def from_config(cls, name: str, cfg: Any, **kwargs: Any) -> HttpClient:
        """Build from a SourceConfig; kwargs (session, limiter, headers, redactor, health) pass through."""
        return cls(
            name,
            cfg.base_url,
            connect_timeout=cfg.connect_timeout_s,
            read_timeout=cfg.read_timeout_s,
            deadline_s=cfg.deadline_s,
            max_retries=cfg.max_retries,
            max_retry_after_s=cfg.max_retry_after_s,
            max_body_bytes=cfg.max_body_bytes,
            key_env=cfg.api_key_env,
            **kwargs,
        )

    # ------------------------------------------------------------ public

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self.request("GET", path, params=params, **kw).json()

    def post_json(self, path: str, body: Any, **kw: Any) -> Any:
        return self.request("POST", path, json_body=body, **kw).json()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        token: str = "*",
        retry: bool = True,
        ok_statuses: tuple[int, ...] = (200,),
    ) -> Response:
        """Send with retries inside the deadline; returns a response whose status is in ok_statuses."""
        url = self._url(path)
        endpoint = urlsplit(url).path
        deadline = self._clock() + self.deadline_s

        def attempt() -> Response:
            self._wait_for_slot(deadline, token, endpoint)
            started = self.health.now()
            t0 = self._clock()
            try:
                resp = self._send(method, url, params, json_body, headers, deadline)
                self._check(resp, ok_statuses)
            except SourceError as exc:
                self._record(token, endpoint, started, t0, exc.kind, exc.status, type(exc).__name__, str(exc))
                raise
            self._record(token, endpoint, started, t0, "ok", resp.status, None, None)
            return resp

        # a POST is retried only if the caller says it may be (retry=False for billed or unsafe calls)
        return self.policy.run(attempt, deadline=deadline, retry=retry, limiter=self.limiter, redact=self.redact)

    # ------------------------------------------------------------ internals

    def _url(self, path: str) -> str:
        url = urljoin(self.base_url, path.lstrip("/")) if not path.startswith("http") else path
        if urlsplit(url).netloc != self._host:
            raise PermanentSourceError(f"refusing request to another host than {self._host}", source=self.name)
        problem = host_problem(urlsplit(url).hostname or "")
        if problem:
            raise PermanentSourceError(f"refusing request: {problem}", source=self.name)
        return url

    def _wait_for_slot(self, deadline: float, token: str, endpoint: str) -> None:
        wait = self.limiter.wait_time()
        if self._clock() + wait > deadline:
            blocked = self.limiter.blocked_for
            kind = "banned" if blocked > 0 else "throttled"
            raise TransientSourceError(
                f"no request slot before the deadline ({wait:.0f}s wait)", source=self.name, kind=kind,
                retry_after=wait,
            )
        self.limiter.acquire()

    def _send(self, method: str, url: str, params: Any, json_body: Any, headers: Mapping[str, str] | None,
              deadline: float) -> Response:
        remaining = deadline - self._clock()
        safe_url = self.redact(url)
        if remaining <= 0:
            raise TransientSourceError("whole-request deadline passed", source=self.name, kind="timeout")
        failure: SourceError | None = None
        raw = None
        chunks: list[bytes] = []
        try:
            with transport.within(time.monotonic() + remaining):  # the guarded adapter cuts the socket then
                raw = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers={**self.headers, **(headers or {})},
                    timeout=(self.connect_timeout, max(0.1, min(self.read_timeout, remaining))),
                    stream=True,
                    allow_redirects=False,
                )
                self._read_body(raw, chunks, deadline)
        except (transport.GuardError, requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            # built here, raised below: the foreign exception (its text holds the full URL) is not chained
            failure = self._transport_error(exc, raw)
        finally:
            if raw is not None:
                raw.close()
        if failure is not None:
            raise failure
        assert raw is not None
        return Response(raw.status_code, dict(raw.headers), b"".join(chunks), safe_url, self.redact)

    def _read_body(self, raw: requests.Response, chunks: list[bytes], deadline: float) -> None:
        declared = int(raw.headers.get("Content-Length") or 0)
        if declared > self.max_body_bytes:
            raise transport.BodyTooLarge(f"body of {declared} bytes exceeds the cap of {self.max_body_bytes}")
        size = 0
        for chunk in raw.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > self.max_body_bytes:
                raise transport.BodyTooLarge(f"body exceeds the cap of {self.max_body_bytes} bytes")
            if self._clock() > deadline:
                raise transport.DeadlinePassed("whole-request deadline passed while reading")
            chunks.append(chunk)

    def _transport_error(self, exc: BaseException, raw: requests.Response | None) -> SourceError:
        status = raw.status_code if raw is not None else None
        guarded = transport.guard_error(exc)
        if guarded is not None:
            return transport.translate(guarded, self.name, status, self.redact)
        if isinstance(exc, requests.Timeout):
            return TransientSourceError(f"timed out ({type(exc).__name__})", source=self.name, kind="timeout")
        if raw is not None:
            return TransientSourceError(f"body incomplete: {type(exc).__name__}", source=self.name,
                                        status=raw.status_code)
        return TransientSourceError(
            f"connection failed: {type(exc).__name__}: {self.redact(str(exc))[:160]}", source=self.name
        )

    def _check(self, resp: Response, ok_statuses: tuple[int, ...]) -> None:
        status, body = resp.status, resp.body
        ctype = resp.headers.get("Content-Type", "")
        html = looks_like_html(body, ctype)
        if status in ok_statuses and not html:
            return
        text = self.redact(snippet(body, 600))  # whole secrets masked before any cut below
        # throttling first: a CDN's 429 page is HTML too, and its Retry-After still binds
        if status in (418, 429) or (status == 403 and any(w in text.lower() for w in _THROTTLE_WORDS)):
            retry_after = retries.wait_from_answer(status, resp.headers, text, cap=self.max_retry_after_s)
            self.limiter.block_for(retry_after)
            kind = "banned" if status == 418 else "throttled"
            raise TransientSourceError(
                f"HTTP {status} ({kind}); no request for {retry_after:.0f}s", source=self.name, status=status,
                retry_after=retry_after, kind=kind,
            )
        if html:
            raise TransientSourceError(
                f"upstream unavailable: HTTP {status} with an HTML page ({text[:80]!r})",
                source=self.name, status=status, kind="error", retry_after=self._server_retry_after(resp),
            )
        if status in (401, 403):
            hint = f"check the key in environment variable {self.key_env}" if self.key_env else "access denied"
            raise PermanentSourceError(f"HTTP {status}: {hint}", source=self.name, status=status, kind="auth")
        if 300 <= status < 400:
            raise PermanentSourceError(
                f"HTTP {status} redirect not followed (to {self.redact(resp.headers.get('Location', '?'))[:80]})",
                source=self.name, status=status,
            )
        if status == 408 or status >= 500:
            raise TransientSourceError(f"HTTP {status}: {text[:80]!r}", source=self.name, status=status,
                                       retry_after=self._server_retry_after(resp))
        raise PermanentSourceError(f"HTTP {status}: {text[:160]!r}", source=self.name, status=status)

    def _server_retry_after(self, resp: Response) -> float | None:
        """A 503's Retry-After binds like a 429's: the host gets no request before it (capped)."""
        retry_after = retries.server_wait(resp.headers, cap=self.max_retry_after_s)
        if retry_after is not None:
            self.limiter.block_for(retry_after)
        return retry_after

    def _record(self, token: str, endpoint: str, started: datetime, t0: float, status: str, http_status: int | None,
                error_class: str | None, message: str | None) -> None:
        self.health.record(self.name, token, endpoint, started, (self._clock() - t0) * 1000, status,
                           http_status=http_status, error_class=error_class, message=message, redact=self.redact)
