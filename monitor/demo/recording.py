"""The on-disk recording format and how a request is matched against it.

A recording is a directory::

    manifest.json            time (the clock a replay freezes at), since, sources, tokens, key names
    config.yaml              the config the poll ran with (base URLs and RPC URLs reset to defaults)
    <source>/index.jsonl     one JSON object per response, sorted by key then arrival order
    <source>/bodies/<sha>    response bodies, content-addressed (``.gz`` ones are gzip-compressed)

An entry holds the request key (method, path, query without secret parameters, a hash of a POST body
- for JSON-RPC only its method and params, never its id) and the response (status, a safe subset of
headers, the body file). Secrets never enter a recording: secret query parameters are dropped,
secret values are replaced wherever they occur, and only allow-listed response headers are kept.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus

log = logging.getLogger(__name__)

FORMAT = "divmon-recording/1"
ORIGIN_MARK = "__DIVMON_REPLAY_ORIGIN__"  # stands for the server origin in recorded bodies/headers
REDACTED = "REDACTED"

# query parameters that carry credentials; dropped from every key (compared lower-case)
SECRET_PARAMS = frozenset({
    "apikey", "api_key", "key", "token", "access_token", "secret", "signature",
    "x_cg_demo_api_key", "x_cg_pro_api_key",
})
# response headers worth replaying; everything else (cookies, server ids, CDN noise) is dropped
SAFE_HEADERS = frozenset({
    "content-type", "retry-after", "link", "location",
    "x-mbx-used-weight-1m", "x-bapi-limit", "x-bapi-limit-status", "x-bapi-limit-reset-timestamp",
    "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset",
    "x-ratelimit-resource", "x-gate-ratelimit-requests-remain", "x-gate-ratelimit-limit",
    "x-gate-ratelimit-reset-timestamp", "x-dune-next-uri", "x-dune-next-offset",
})
# parameters that move with the clock or the cursor: ignored (by distance) when no exact match exists
VOLATILE_PARAMS = frozenset({
    "starttime", "endtime", "start", "end", "begin", "after", "before", "from", "to", "since", "until",
    "start_time", "end_time", "timestamp", "ts", "fromblock", "toblock", "startblock", "endblock",
    "limit", "days", "_", "nonce", "recvwindow",
})
# JSON-RPC calls whose params move with the chain head; any other call must match exactly
RPC_FALLBACK = frozenset({"eth_getLogs"})


@dataclass(frozen=True)
class Key:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: str | None = None  # sha256 prefix of the canonical body
    rpc: str | None = None  # JSON-RPC method(s), to narrow fallbacks

    def label(self) -> str:
        q = "&".join(f"{k}={v}" for k, v in self.query)
        return f"{self.method} {self.path}{'?' + q if q else ''}{' rpc=' + self.rpc if self.rpc else ''}"


@dataclass
class Entry:
    method: str
    path: str
    query: list[list[str]]
    body_key: str | None
    rpc: str | None
    status: int
    headers: dict[str, str]
    body: str | None  # file name under bodies/, None for an empty body
    seq: int = 0  # arrival order among entries with the same key

    @property
    def key(self) -> Key:
        return Key(self.method, self.path, tuple((k, v) for k, v in self.query), self.body_key, self.rpc)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret value (raw and URL-encoded) with REDACTED."""
    for value in _secret_forms(secrets):
        text = text.replace(value, REDACTED)
    return text


def scrub_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    for value in _secret_forms(secrets):
        data = data.replace(value.encode(), REDACTED.encode())
    return data


def _secret_forms(secrets: Iterable[str]) -> list[str]:
    forms = set()
    for value in secrets:
        if value and len(value) >= 4:
            forms |= {value, quote(value, safe=""), quote_plus(value)}
    return sorted(forms, key=len, reverse=True)


def canonical_body(body: bytes) -> tuple[str | None, str | None]:
    """(hash, rpc methods) of a request body. JSON-RPC keeps method+params only (ids change per run);
    other JSON is hashed with sorted keys; anything else as raw bytes."""
    if not body:
        return None, None
    rpc = None
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return hashlib.sha256(body).hexdigest()[:16], None
    calls = data if isinstance(data, list) else [data]
    if calls and all(isinstance(c, dict) and "method" in c and "jsonrpc" in c for c in calls):
        data = [[c.get("method"), c.get("params")] for c in calls]
        rpc = ",".join(str(c.get("method")) for c in calls)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16], rpc


def make_key(method: str, path: str, query: str, body: bytes, secrets: Iterable[str] = ()) -> Key:
    secrets = list(secrets)
    pairs = []
    for k, v in parse_qsl(query, keep_blank_values=True):
        if k.lower() in SECRET_PARAMS:
            continue
        pairs.append((scrub(k, secrets), scrub(v, secrets)))
    body_hash, rpc = canonical_body(scrub_bytes(body, secrets)) if body else (None, None)
    return Key(method.upper(), scrub(path, secrets), tuple(sorted(pairs)), body_hash, rpc)


def filter_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower() in SAFE_HEADERS}


# ---------------------------------------------------------------- writing


class SourceWriter:
    """Collects one source's responses while recording; thread-safe; writes the index at the end."""

    def __init__(self, folder: Path, *, compress: bool = False):
        self.folder = folder
        self.compress = compress
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._counts: dict[Key, int] = {}

    def add(self, key: Key, status: int, headers: Mapping[str, str], body: bytes) -> None:
        name = None
        if body:
            digest = hashlib.sha256(body).hexdigest()[:24]
            kind = "json" if "json" in filter_headers(headers).get("content-type", "") else "bin"
            name = f"{digest}.{kind}" + (".gz" if self.compress else "")
            path = self.folder / "bodies" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                # mtime=0: the same body always gives the same bytes, so a rebuilt bundle diffs clean
                path.write_bytes(gzip.compress(body, mtime=0) if self.compress else body)
        with self._lock:
            seq = self._counts.get(key, 0)
            self._counts[key] = seq + 1
            self._entries.append(Entry(key.method, key.path, [list(p) for p in key.query], key.body, key.rpc,
                                       status, filter_headers(headers), name, seq))

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        entries = sorted(self._entries, key=lambda e: (e.method, e.path, e.query, e.body_key or "", e.seq))
        with open(self.folder / "index.jsonl", "w", encoding="utf-8") as fh:
            for e in entries:
                fh.write(json.dumps(asdict(e), sort_keys=True, separators=(",", ":")) + "\n")


# ---------------------------------------------------------------- reading and matching


@dataclass
class Match:
    entry: Entry
    body: bytes
    exact: bool


@dataclass
class SourceRecording:
    """One source's entries with the matcher a replay server uses."""

    name: str
    folder: Path
    groups: dict[Key, list[Entry]] = field(default_factory=dict)
    _cursor: dict[Key, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, folder: Path) -> SourceRecording:
        rec = cls(folder.name, folder)
        index = folder / "index.jsonl"
        if index.is_file():
            for line in index.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    e = Entry(**json.loads(line))
                    rec.groups.setdefault(e.key, []).append(e)
        for entries in rec.groups.values():
            entries.sort(key=lambda e: e.seq)
        return rec

    def __len__(self) -> int:
        return sum(len(v) for v in self.groups.values())

    def match(self, key: Key) -> Match | None:
        """Exact key first; else the closest entry with the same method, path, body kind and every
        non-volatile parameter equal (distance over volatile numeric parameters, ties to the first).
        Repeated requests for one key walk its recorded responses in order; the last one repeats."""
        exact = key in self.groups
        chosen = key if exact else self._fallback(key)
        if chosen is None:
            return None
        with self._lock:
            entries = self.groups[chosen]
            i = self._cursor.get(chosen, 0)
            self._cursor[chosen] = i + 1
        entry = entries[min(i, len(entries) - 1)]
        return Match(entry, self._body(entry), exact)

    def _fallback(self, key: Key) -> Key | None:
        best, best_score = None, None
        want = dict(key.query)
        for cand in self.groups:
            if cand.method != key.method or cand.path != key.path or cand.rpc != key.rpc:
                continue
            if (cand.body is None) != (key.body is None):
                continue
            if key.rpc and key.rpc not in RPC_FALLBACK:  # another slot or block is another answer
                continue
            have = dict(cand.query)
            fixed = {k for k in set(want) | set(have) if k.lower() not in VOLATILE_PARAMS}
            if any(want.get(k) != have.get(k) for k in fixed):
                continue
            score = sum(_distance(want.get(k), have.get(k)) for k in set(want) | set(have) if k not in fixed)
            if best_score is None or score < best_score:
                best, best_score = cand, score
        return best

    def _body(self, entry: Entry) -> bytes:
        if not entry.body:
            return b""
        data = (self.folder / "bodies" / entry.body).read_bytes()
        return gzip.decompress(data) if entry.body.endswith(".gz") else data


def _distance(a: str | None, b: str | None) -> float:
    if a is None or b is None:
        return 1.0
    if a == b:
        return 0.0
    try:
        x, y = float(a), float(b)
    except ValueError:
        return 1.0
    return min(1.0, abs(x - y) / max(abs(x), abs(y), 1.0))


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / "manifest.json").write_text(json.dumps({"format": FORMAT, **manifest}, indent=2, sort_keys=True) + "\n",
                                          encoding="utf-8")


def read_manifest(folder: Path) -> dict[str, Any]:
    from monitor.errors import ConfigError

    path = Path(folder) / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{folder} is not a recording: {path.name} is missing (make one with `divmon record`)") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if data.get("format") != FORMAT:
        raise ConfigError(f"{path}: unknown recording format {data.get('format')!r} (expected {FORMAT})")
    manifest: dict[str, Any] = data
    return manifest
