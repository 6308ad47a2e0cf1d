"""Whole-request deadline for requests sessions.

A per-read timeout cannot stop a server that sends one byte a second. Pools mounted by HttpClient
remember which connection each thread is using, so a watchdog can shut its socket at the deadline.
"""

from __future__ import annotations

import socket
import threading
import weakref
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_ACTIVE_CONN: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


class _TrackingHTTPPool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _ACTIVE_CONN[threading.get_ident()] = conn
        return conn


class _TrackingHTTPSPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _ACTIVE_CONN[threading.get_ident()] = conn
        return conn


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections a Watchdog can cut."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _TrackingHTTPPool, "https": _TrackingHTTPSPool}


class Watchdog:
    """Shuts down the calling thread's connection if the call outlives ``seconds``."""

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
            conn = _ACTIVE_CONN.get(self._tid)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        with self._lock:
            self._done = True
        self._timer.cancel()
