"""Helpers the command modules share: building the App from parsed arguments."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.config import find_config, load_config
from monitor.errors import EXIT_OK, EXIT_SOURCE, EXIT_WARNING

if TYPE_CHECKING:
    from monitor.app import App

log = logging.getLogger(__name__)


def load_app(args: argparse.Namespace, **kwargs: Any) -> App:
    """The App for these arguments: --config, --db and --replay applied.

    Under --replay the config defaults to the recording's own config.yaml (what the poll ran with) and
    the database to DIR/replay.db, so a replay never writes into the live database by accident.
    """
    from monitor.app import App, install_log_redaction

    replay = getattr(args, "replay", None)
    config_path = args.config
    if replay and config_path is None and (Path(replay) / "config.yaml").is_file():
        config_path = Path(replay) / "config.yaml"
    found = find_config(config_path)
    log.info("config %s", found.resolve() if found else "(embedded defaults)")
    config = load_config(found)
    db = getattr(args, "db", None)
    if replay and not db:
        db = f"sqlite:///{(Path(replay) / 'replay.db').resolve()}"
    if db:
        config = config.model_copy(update={"storage": config.storage.model_copy(update={"url": db})})
    log.debug("storage %s", _hide_password(config.storage.url))
    if replay:
        from monitor.demo.replay import replay_app

        app: App = replay_app(config, replay, **kwargs)
    else:
        app = App(config, **kwargs)
    install_log_redaction(app.redactor)
    return app


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1****@", url)


def poll_exit(outcomes: Sequence[Any]) -> int:
    """The exit code of a poll, backfill or record: 69 (EX_UNAVAILABLE) when fetches failed and none
    brought anything, 1 (WARNING) when some failed or came back partial, else 0. Failures are named on
    stderr. A fetch that asked nothing (nothing configured for the token there) counts for neither side."""
    failed = [o for o in outcomes if o.status not in ("ok", "partial")]
    partial = [o for o in outcomes if o.status == "partial"]
    fetched = [o for o in outcomes if o.status in ("ok", "partial") and o.requests]
    if not failed and not partial:
        return EXIT_OK
    names = ", ".join(f"{o.source}/{o.token} ({o.status})" for o in [*failed, *partial])
    if failed and not fetched:
        print(f"divmon: nothing could be fetched; failed: {names}", file=sys.stderr)
        return EXIT_SOURCE
    asked = len(fetched) + len(failed)
    print(f"divmon: {len(failed) + len(partial)} of {asked} fetches failed or were partial: {names}", file=sys.stderr)
    return EXIT_WARNING
