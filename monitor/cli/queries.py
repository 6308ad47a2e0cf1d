"""`divmon queries sync|list`: the DuneSQL files in queries/ and their ids on Dune."""

from __future__ import annotations

import argparse

from monitor.cli.common import load_app


def run(args: argparse.Namespace) -> int:
    from monitor.sources.dune_queries import ids_path, load_queries, query_ids, read_ids, sync_queries

    app = load_app(args)
    try:
        cfg = app.config.sources.dune
        folder = args.dir if getattr(args, "dir", None) else cfg.queries_dir
        specs = load_queries(folder)
        path = ids_path(cfg, app.cache_dir)
        if args.action == "list":
            ids = query_ids(cfg, app.cache_dir)
            recorded = read_ids(path)
            for spec in specs:
                qid = ids.get(spec.name)
                stale = " (changed since sync)" if spec.name in recorded and \
                    recorded[spec.name].get("digest") != spec.digest else ""
                params = ", ".join(f"{p.key}:{p.type}" for p in spec.params)
                print(f"{spec.name:<18} id={qid if qid is not None else '-':<10} params=[{params}]{stale}")
            print(f"ids file: {path}")
            return 0
        from monitor.sources.dune import DuneSource

        source = DuneSource("dune", cfg, app.context())
        for name, qid, action in sync_queries(source._api, specs, path, overrides=dict(cfg.query_ids)):
            print(f"{name:<18} id={qid:<10} {action}")
        print(f"ids recorded in {path}")
        return 0
    finally:
        app.close()
