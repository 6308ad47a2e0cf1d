"""The DuneSQL files in ``queries/`` and the ids Dune gave them.

Each file is one metric. A header of ``-- key: value`` comment lines says which (``metric``), what it
does (``description``) and its parameters (``params: name:type=default, …``, types text|number|datetime|
enum). Every ``{{name}}`` in the SQL must be declared. Ids written by ``divmon queries sync`` live in a
small JSON file; ``sources.dune.query_ids`` in the config wins over it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.errors import ConfigError

_HEADER = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*)$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_TYPES = {"text", "number", "datetime", "enum"}
IDS_FILE_NAME = "dune-query-ids.json"


@dataclass(frozen=True)
class QueryParam:
    key: str
    type: str
    default: str


@dataclass(frozen=True)
class QuerySpec:
    name: str  # file stem, also the key of query_ids
    metric: str
    description: str
    sql: str
    params: tuple[QueryParam, ...]

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


def parse_query_file(name: str, text: str) -> QuerySpec:
    """One .sql file's text -> QuerySpec; ConfigError naming the file on a bad header."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        match = _HEADER.match(line.strip())
        if not match:
            if line.strip() and not line.strip().startswith("--"):
                break
            continue
        header[match.group(1)] = match.group(2).strip()
    params: list[QueryParam] = []
    for item in filter(None, (p.strip() for p in header.get("params", "").split(","))):
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([a-z]+)\s*(?:=\s*(.*))?", item)
        if not m or m.group(2) not in _TYPES:
            raise ConfigError(f"queries/{name}.sql: bad parameter {item!r} (use name:type=default)")
        params.append(QueryParam(m.group(1), m.group(2), (m.group(3) or "").strip()))
    declared = {p.key for p in params}
    used = set(_PLACEHOLDER.findall(text))
    if used - declared:
        raise ConfigError(f"queries/{name}.sql: parameters {sorted(used - declared)} are used but not declared")
    return QuerySpec(name=name, metric=header.get("metric", name), description=header.get("description", ""),
                     sql=text, params=tuple(params))


def bundled_queries_dir() -> Path:
    """Installed: the SQL ships as monitor/queries; in a checkout it is the top-level queries/."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "queries"
    return installed if installed.is_dir() else package.parent / "queries"


def load_queries(directory: str | os.PathLike[str]) -> list[QuerySpec]:
    folder = Path(directory)
    if not folder.is_dir() and str(directory) == "queries":
        folder = bundled_queries_dir()  # the default, run from outside a checkout
    if not folder.is_dir():
        raise ConfigError(f"query folder {folder} does not exist (sources.dune.queries_dir)")
    return [parse_query_file(p.stem, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.sql"))]


def ids_path(cfg: Any, cache_dir: Any) -> Path:
    return Path(cfg.ids_file) if cfg.ids_file else Path(cache_dir) / IDS_FILE_NAME


def read_ids(path: Path) -> dict[str, dict[str, Any]]:
    """{name: {"query_id": int, "digest": str}}; an absent file is empty, a corrupt one an error."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable Dune query id file ({exc}); delete it and run `divmon queries sync`") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an object of query ids")
    return {k: v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("query_id"), int)}


def write_ids(path: Path, ids: dict[str, dict[str, Any]]) -> None:
    """Atomic replace, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dune-ids-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(ids, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def query_ids(cfg: Any, cache_dir: Any) -> dict[str, int]:
    """Effective name -> id: the ids file, overridden by the config's query_ids."""
    ids = {name: entry["query_id"] for name, entry in read_ids(ids_path(cfg, cache_dir)).items()}
    ids.update(cfg.query_ids)
    return ids


def sync_queries(api: Any, specs: list[QuerySpec], path: Path, *, overrides: dict[str, int] | None = None,
                 prefix: str = "divmon", private: bool = True) -> list[tuple[str, int, str]]:
    """Create each query on Dune or update it when its SQL changed; record ids in ``path``.

    ``api(method, route, body)`` returns the decoded JSON answer. Returns (name, id, action) rows.
    """
    ids = read_ids(path)
    done: list[tuple[str, int, str]] = []
    for spec in specs:
        entry = ids.get(spec.name)
        query_id = (overrides or {}).get(spec.name) or (entry or {}).get("query_id")
        body = {
            "name": f"{prefix}: {spec.metric}",
            "description": spec.description,
            "query_sql": spec.sql,
            "parameters": [{"key": p.key, "type": p.type, "value": p.default} for p in spec.params],
        }
        if query_id is None:
            answer = api("POST", "/query/", {**body, "is_private": private})
            action = "created"
        elif entry and entry.get("digest") == spec.digest and entry.get("query_id") == query_id:
            done.append((spec.name, query_id, "unchanged"))
            continue
        else:
            answer = api("PATCH", f"/query/{query_id}", body)
            action = "updated"
        new_id = answer.get("query_id") if isinstance(answer, dict) else None
        if isinstance(new_id, str) and new_id.isdigit():
            new_id = int(new_id)
        if not isinstance(new_id, int) or isinstance(new_id, bool):
            raise ConfigError(f"Dune answered {action} for {spec.name} without a query_id")
        ids[spec.name] = {"query_id": new_id, "digest": spec.digest, "metric": spec.metric}
        write_ids(path, ids)  # after each one: a failure half-way keeps what was created
        done.append((spec.name, new_id, action))
    return done
