"""A tiny raw-socket HTTP server on 127.0.0.1 that misbehaves on purpose (faults.md rows H1-H5, H13).

Each connection reads the request head, then plays one mode. Threads are daemons, every socket has a
timeout and the server stops itself after ``lifetime_s`` so a broken test cannot hang the run.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

MODES = ("silent", "trickle", "trickle_close", "trickle_head", "short_length", "cut_chunked", "reset", "oversized",
         "ok", "redirect")


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class FaultServer:
    def __init__(self, mode: str, *, lifetime_s: float = 20.0, body_size: int = 0, location: str = ""):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.body_size = body_size
        self.location = location  # where "redirect" sends the client
        self.lifetime_s = lifetime_s
        self.connections = 0
        self.requests: list[tuple[float, bytes]] = []  # (monotonic time, request head)
        self.sent_bytes = 0
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._started = time.monotonic()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def _alive(self) -> bool:
        return not self._stop.is_set() and time.monotonic() - self._started < self.lifetime_s

    def _serve(self) -> None:
        while self._alive():
            try:
                conn, _ = self._sock.accept()
            except OSError:  # timeout: look at the stop flag again
                continue
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _read_head(self, conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data and self._alive():
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                break
            data += chunk
        return data

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        with self._lock:
            self.sent_bytes += len(data)

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        try:
            head = self._read_head(conn)
            with self._lock:
                self.requests.append((time.monotonic(), head))
            getattr(self, f"_mode_{self.mode}")(conn)
        except OSError:
            pass  # the client gave up: that is what most modes are for
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _hold(self, conn: socket.socket) -> None:
        """Keep the connection open, saying nothing, until the client leaves or the server stops."""
        while self._alive():
            try:
                if conn.recv(1024) == b"":
                    return
            except TimeoutError:
                continue

    # ------------------------------------------------------------ modes

    def _mode_silent(self, conn: socket.socket) -> None:
        self._hold(conn)

    def _mode_trickle(self, conn: socket.socket) -> None:
        body = b'{"data": [' + b"1, " * 200 + b"1]}"
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body))
        self._trickle(conn, body)

    def _mode_trickle_close(self, conn: socket.socket) -> None:
        """A trickle with no length and Connection: close: http.client hands the socket to the response."""
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        self._trickle(conn, b'{"data": [' + b"1, " * 200 + b"1]}")

    def _mode_redirect(self, conn: socket.socket) -> None:
        self._send(conn, b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % self.location.encode())
        self._hold(conn)

    def _mode_trickle_head(self, conn: socket.socket) -> None:
        self._trickle(conn, b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n{}")

    def _trickle(self, conn: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            if not self._alive():
                return
            self._send(conn, data[i:i + 1])
            self._stop.wait(1.0)

    def _mode_short_length(self, conn: socket.socket) -> None:
        self._send(conn, b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n'
                         b'Connection: close\r\n\r\n{"data": [1, 2, 3]}')

    def _mode_cut_chunked(self, conn: socket.socket) -> None:
        self._send(conn, b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n'
                         b'Connection: close\r\n\r\n10\r\n{"data": [1, 2, \r\n40\r\n3, 4')

    def _mode_reset(self, conn: socket.socket) -> None:
        self._send(conn, b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n'
                         b'{"data": [' + b"1, " * 100)
        time.sleep(0.05)
        # SO_LINGER with a zero timeout turns close() into an RST
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _mode_oversized(self, conn: socket.socket) -> None:
        """A chunked body with no declared length, far bigger than the client's cap."""
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b"7" * 65536)
        sent = 0
        while self._alive() and sent < self.body_size:
            self._send(conn, chunk)
            sent += 65536
        self._send(conn, b"0\r\n\r\n")

    def _mode_ok(self, conn: socket.socket) -> None:
        body = b'{"ok": true}'
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(body), body))


def serving(**defaults: Any) -> Iterator[Callable[..., FaultServer]]:
    """Body of a fixture: yields start(mode, **kw) and stops every server it started afterwards."""
    started: list[FaultServer] = []

    def start(mode: str, **kw: Any) -> FaultServer:
        server = FaultServer(mode, **{**defaults, **kw}).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
