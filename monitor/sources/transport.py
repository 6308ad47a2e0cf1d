"""The guarded transport every outside HTTP call goes through: our HttpClient and the requests sessions
handed to ccxt, web3 and dune-client all get a ``GuardedAdapter`` (see ``harden``).

Per request it enforces, below every library's own logic:
- the host policy on the ADDRESSES a name resolves to, checked at connect time, and the connection made
  to the checked address (a hosts-file alias or a DNS answer cannot smuggle in loopback or metadata);
- no redirect to another origin (requests strips only ``Authorization`` on a host change, so a followed
  302 would carry ``X-Dune-API-Key`` or a venue's signature to the new host);
- a whole-request deadline: a watchdog shuts the socket itself (kept from connect time, because
  ``http.client`` hands it to the response and forgets it on ``Connection: close``);
- a body-size cap, counted on the decoded body while it is read (never the whole body first).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as u3exc
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as u3connection

from monitor import netpolicy
from monitor.errors import PermanentSourceError, SourceError, TransientSourceError

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Policy:
    deadline_s: float = 60.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    allow_loopback: bool = True  # a bare session (tests, replay) defers to the config check
    allow_private: bool = True


class GuardError(Exception):
    """A request the guard stopped. Not a requests/OSError subclass, so no library retries it."""

    permanent = True


class AddressRefused(GuardError):
    pass


class RedirectRefused(GuardError):
    pass


class BodyTooLarge(GuardError):
    pass


class DeadlinePassed(GuardError, requests.exceptions.ReadTimeout):
    """Also a requests Timeout, so each library reports it as its own timeout."""

    permanent = False


def guard_error(exc: BaseException | None) -> GuardError | None:
    """The GuardError behind ``exc`` (libraries wrap what they catch), or None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, GuardError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


# ------------------------------------------------------------ deadlines

_local = threading.local()
_ACTIVE: dict[int, Any] = {}  # thread id -> the connection it is using now
_ACTIVE_LOCK = threading.Lock()


@contextmanager
def within(deadline: float | None) -> Iterator[None]:
    """Bound every request this thread sends to the monotonic ``deadline`` (nests: the earliest wins)."""
    outer = getattr(_local, "deadline", None)
    _local.deadline = outer if deadline is None else deadline if outer is None else min(outer, deadline)
    try:
        yield
    finally:
        _local.deadline = outer


def _track(conn: Any) -> None:
    with _ACTIVE_LOCK:
        _ACTIVE[threading.get_ident()] = conn


class Watchdog:
    """Shuts the calling thread's socket if the request outlives ``seconds``."""

    def __init__(self, seconds: float):
        self.fired = False
        self._tid = threading.get_ident()
        self._lock = threading.Lock()
        self._done = False
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            with _ACTIVE_LOCK:
                conn = _ACTIVE.get(self._tid)
        for sock in (getattr(conn, "_guard_sock", None), getattr(conn, "sock", None)):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cancel(self) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()
        with _ACTIVE_LOCK:
            _ACTIVE.pop(self._tid, None)


# ------------------------------------------------------------ connect to checked addresses


def checked_addresses(host: str, port: int, policy: Policy) -> list[str]:
    """Resolve ``host``; every address must pass the policy (one bad answer refuses the name)."""
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%")[0]
        problem = netpolicy.address_problem(ipaddress.ip_address(address), allow_loopback=policy.allow_loopback,
                                            allow_private=policy.allow_private, shown=f"{host} -> {address}")
        if problem:
            raise AddressRefused(f"refusing to connect: {problem}")
        if address not in addresses:
            addresses.append(address)
    return addresses


class _GuardedConnectionMixin:
    adapter: GuardedAdapter  # set on the per-adapter subclass

    def _new_conn(self) -> socket.socket:
        host, port = self._dns_host, self.port  # type: ignore[attr-defined]
        try:
            addresses = checked_addresses(host, port, self.adapter.policy)
        except socket.gaierror as exc:
            raise NewConnectionError(self, f"name resolution failed: {exc}") from exc  # type: ignore[arg-type]
        last: OSError | None = None
        for address in addresses:
            try:
                sock = u3connection.create_connection(
                    (address, port), self.timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address, socket_options=self.socket_options,  # type: ignore[attr-defined]
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"connection to {host} timed out") from exc
            except OSError as exc:
                last = exc
                continue
            self._guard_sock = sock
            return sock
        raise NewConnectionError(self, f"failed to establish a new connection: {last}")  # type: ignore[arg-type]


# ------------------------------------------------------------ the adapter


class GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: Policy | None = None, **kwargs: Any):
        self.policy = policy or Policy()
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        attrs = {"adapter": self}
        conn = type("GuardedHTTPConnection", (_GuardedConnectionMixin, HTTPConnection), attrs)
        sconn = type("GuardedHTTPSConnection", (_GuardedConnectionMixin, HTTPSConnection), attrs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (_TrackingPool, HTTPConnectionPool), {"ConnectionCls": conn}),
            "https": type("GuardedHTTPSPool", (_TrackingPool, HTTPSConnectionPool), {"ConnectionCls": sconn}),
        }

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        seconds = self.policy.deadline_s
        outer = getattr(_local, "deadline", None)
        if outer is not None:
            seconds = min(seconds, outer - time.monotonic())
        if seconds <= 0:
            raise DeadlinePassed("whole-request deadline passed before sending")
        watchdog = Watchdog(seconds)
        try:
            response = super().send(request, stream=True, timeout=timeout, verify=verify, cert=cert,
                                    proxies=proxies)
            try:
                self._refuse_cross_origin(request, response)
                self._preload(response, watchdog)
            except BaseException:
                response.close()
                raise
        except Exception:
            if watchdog.fired:  # whatever the cut socket made the library say
                raise DeadlinePassed(f"whole-request deadline of {seconds:.1f}s passed") from None
            raise
        finally:
            watchdog.cancel()
        if watchdog.fired:
            response.close()
            raise DeadlinePassed(f"whole-request deadline of {seconds:.1f}s passed")
        return response

    def _refuse_cross_origin(self, request: requests.PreparedRequest, response: requests.Response) -> None:
        if not response.is_redirect:
            return
        target = urljoin(request.url or "", response.headers.get("Location", ""))
        if _origin(target) != _origin(request.url or ""):
            raise RedirectRefused(f"HTTP {response.status_code} redirect not followed: "
                                  f"{urlsplit(target).hostname or '?'} is another host")

    def _preload(self, response: requests.Response, watchdog: Watchdog) -> None:
        """Read the body now, under the watchdog and the cap (callers then see ``response.content``)."""
        cap = self.policy.max_body_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise BodyTooLarge(f"body of {declared} bytes exceeds the cap of {cap}")
        chunks, size = [], 0
        try:
            for chunk in response.raw.stream(65536, decode_content=True):
                size += len(chunk)
                if size > cap:
                    raise BodyTooLarge(f"body exceeds the cap of {cap} bytes")
                if watchdog.fired:
                    break
                chunks.append(chunk)
        except (u3exc.ProtocolError, u3exc.DecodeError, u3exc.ReadTimeoutError, u3exc.SSLError) as exc:
            # what requests' own body reading raises for each, so every library sees its usual error
            raise _AS_REQUESTS[next(t for t in _AS_REQUESTS if isinstance(exc, t))](exc) from exc
        response._content = b"".join(chunks)
        response._content_consumed = True  # type: ignore[attr-defined]  # set by requests, missing from types-requests


_AS_REQUESTS = {
    u3exc.ProtocolError: requests.exceptions.ChunkedEncodingError,
    u3exc.DecodeError: requests.exceptions.ContentDecodingError,
    u3exc.ReadTimeoutError: requests.exceptions.ConnectionError,
    u3exc.SSLError: requests.exceptions.SSLError,
}


class _TrackingPool:
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        _track(conn)
        return conn


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def harden(session: Any, *, network: Any = None, max_retries: Any = None, **limits: Any) -> Any:
    """Mount a GuardedAdapter on a requests session (kept policy fields are updated, not reset).

    ``network`` is the config's NetworkConfig; ``limits`` are Policy fields (deadline_s, max_body_bytes).
    A session with a test's own adapter (a replay) is left alone: it never touches the network.
    """
    if not isinstance(session, requests.Session):
        return session
    for prefix in ("http://", "https://"):
        current = session.get_adapter(prefix)
        if isinstance(current, GuardedAdapter):
            policy = current.policy
        elif type(current) is HTTPAdapter:
            policy = Policy()
        else:
            continue
        if network is not None:
            policy = dataclasses.replace(policy, allow_loopback=network.allow_loopback, allow_private=False)
        policy = dataclasses.replace(policy, **{k: v for k, v in limits.items() if v is not None})
        if isinstance(current, GuardedAdapter) and max_retries is None:
            current.policy = policy
            continue
        retries = max_retries if max_retries is not None else current.max_retries
        session.mount(prefix, GuardedAdapter(policy, max_retries=retries))
    return session


def translate(exc: GuardError, source: str, status: int | None = None, redact: Any = str) -> SourceError:
    """A GuardError as the monitor's SourceError (one mapping for every client family)."""
    if isinstance(exc, DeadlinePassed):
        return TransientSourceError(str(exc), source=source, status=status, kind="timeout")
    kind = "parse" if isinstance(exc, BodyTooLarge) else "error"
    return PermanentSourceError(redact(str(exc)), source=source, status=status, kind=kind)
