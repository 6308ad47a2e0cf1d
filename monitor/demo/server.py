"""Loopback HTTP servers: one replays a source's recorded responses, the other records them.

Each source gets its own server on 127.0.0.1 with an ephemeral port, so a source's base URL becomes
``http://127.0.0.1:<port>`` plus the path of its upstream base URL, whatever way a client library
rewrites hosts (ccxt replaces whole hosts; a path prefix could be lost there).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from monitor.demo.recording import ORIGIN_MARK, SourceRecording, SourceWriter, make_key, scrub, scrub_bytes

log = logging.getLogger(__name__)

_HOP_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
                "transfer-encoding", "upgrade", "content-length", "content-encoding", "host", "accept-encoding"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        try:
            status, headers, payload = self.server.respond(self.command, parts.path, parts.query, dict(self.headers),
                                                           body)
        except Exception:  # a server thread must answer, never die silently
            log.exception("%s: failed to answer %s %s", self.server.name, self.command, parts.path)
            status, headers, payload = 500, {"Content-Type": "application/json"}, b'{"error": "replay server error"}'
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s: " + format, self.server.name, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> _Server:
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name=f"replay-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server_close()

    def respond(self, method: str, path: str, query: str, headers: dict[str, str],
                body: bytes) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError


class ReplayServer(_Server):
    """Answers from a SourceRecording. A request with no recorded answer gets a 404 JSON body and a
    warning naming it, so a client calling an endpoint the recording lacks is visible at once."""

    def __init__(self, recording: SourceRecording, secrets: Iterable[str] = ()):
        super().__init__(recording.name)
        self.recording = recording
        self.secrets = list(secrets)
        self.unmatched: list[str] = []
        self.fallbacks: list[str] = []

    def respond(self, method: str, path: str, query: str, headers: dict[str, str],
                body: bytes) -> tuple[int, dict[str, str], bytes]:
        key = make_key(method, path, query, body, self.secrets)
        found = self.recording.match(key)
        if found is None:
            self.unmatched.append(key.label())
            log.warning("replay %s: no recorded response for %s", self.name, key.label())
            msg = {"error": "not in recording", "source": self.name, "request": key.label()}
            return 404, {"Content-Type": "application/json"}, json.dumps(msg).encode()
        if not found.exact:
            self.fallbacks.append(key.label())
            log.info("replay %s: %s answered by the closest recorded request", self.name, key.label())
        entry, payload = found.entry, found.body
        out_headers = {k: v.replace(ORIGIN_MARK, self.origin) for k, v in entry.headers.items()}
        if ORIGIN_MARK.encode() in payload:
            payload = payload.replace(ORIGIN_MARK.encode(), self.origin.encode())
        if key.rpc:
            payload = _match_rpc_ids(body, payload)
        return entry.status, out_headers, payload


def _match_rpc_ids(request: bytes, response: bytes) -> bytes:
    """Give a replayed JSON-RPC answer the ids of this run's request (clients check them)."""
    try:
        req, resp = json.loads(request), json.loads(response)
    except ValueError:
        return response
    if isinstance(req, dict) and isinstance(resp, dict):
        resp["id"] = req.get("id")
    elif isinstance(req, list) and isinstance(resp, list) and len(req) == len(resp):
        for r, q in zip(resp, req, strict=True):
            if isinstance(r, dict) and isinstance(q, dict):
                r["id"] = q.get("id")
    else:
        return response
    return json.dumps(resp, separators=(",", ":")).encode()


class RecordingProxy(_Server):
    """Forwards each request to the upstream and keeps the response (secrets scrubbed) in a writer.

    ``route(path) -> (upstream_url, origin)`` picks the upstream for a request path (one venue may span
    several hosts; a chain may have one RPC URL per network)."""

    def __init__(self, name: str, route: Callable[[str], tuple[str, str]], writer: SourceWriter,
                 secrets: Iterable[str], session_factory: Callable[[], object] | None = None,
                 timeout: tuple[float, float] = (10.0, 60.0)):
        super().__init__(name)
        self.route = route
        self.writer = writer
        self.secrets = [s for s in secrets if s]
        self.upstream_timeout = timeout  # not `timeout`: socketserver reads that one
        self._local = threading.local()
        self._session_factory = session_factory

    def _session(self) -> Any:  # a requests.Session, or what the factory hands out
        session = getattr(self._local, "session", None)
        if session is None:
            if self._session_factory is not None:
                session = self._session_factory()
            else:
                import requests

                session = requests.Session()
                session.trust_env = False
            self._local.session = session
        return session

    def respond(self, method: str, path: str, query: str, headers: dict[str, str],
                body: bytes) -> tuple[int, dict[str, str], bytes]:
        import requests

        upstream, upstream_origin = self.route(path)
        url = upstream + (f"?{query}" if query else "")
        fwd = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
        key = make_key(method, path, query, body, self.secrets)
        try:
            resp = self._session().request(method, url, data=body or None, headers=fwd, timeout=self.upstream_timeout,
                                           allow_redirects=False)
        except requests.RequestException as exc:
            log.warning("record %s: upstream failed for %s: %s", self.name, key.label(), type(exc).__name__)
            payload = json.dumps({"error": "upstream unreachable while recording"}).encode()
            self.writer.add(key, 502, {"Content-Type": "application/json"}, payload)
            return 502, {"Content-Type": "application/json"}, payload
        content = resp.content
        headers_out = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_HEADERS}
        # what is kept: secrets scrubbed, upstream origin replaced by a marker a replay fills in
        kept = scrub_bytes(content, self.secrets).replace(upstream_origin.encode(), ORIGIN_MARK.encode())
        kept_headers = {k: scrub(v, self.secrets).replace(upstream_origin, ORIGIN_MARK)
                        for k, v in headers_out.items()}
        self.writer.add(key, resp.status_code, kept_headers, kept)
        # what the live client gets: links pointing back at this proxy
        live = content.replace(upstream_origin.encode(), self.origin.encode())
        live_headers = {k: v.replace(upstream_origin, self.origin) for k, v in headers_out.items()}
        return resp.status_code, live_headers, live


def start_all(servers: Mapping[str, _Server]) -> None:
    for server in servers.values():
        server.start()


def stop_all(servers: Mapping[str, _Server]) -> None:
    for server in servers.values():
        try:
            server.stop()
        except OSError:  # already closed
            pass
