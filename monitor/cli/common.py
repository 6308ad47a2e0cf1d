"""Helpers the command modules share: building the App from parsed arguments."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from monitor.config import load_config


def load_app(args: argparse.Namespace, **kwargs: Any):  # noqa: ANN201
    """The App for these arguments: --config, --db and --replay applied.

    Under --replay the config defaults to the recording's own config.yaml (what the poll ran with) and
    the database to DIR/replay.db, so a replay never writes into the live database by accident.
    """
    from monitor.app import App, install_log_redaction

    replay = getattr(args, "replay", None)
    config_path = args.config
    if replay and config_path is None and (Path(replay) / "config.yaml").is_file():
        config_path = Path(replay) / "config.yaml"
    config = load_config(config_path)
    db = getattr(args, "db", None)
    if replay and not db:
        db = f"sqlite:///{(Path(replay) / 'replay.db').resolve()}"
    if db:
        config = config.model_copy(update={"storage": config.storage.model_copy(update={"url": db})})
    if replay:
        from monitor.demo.replay import replay_app

        app = replay_app(config, replay, **kwargs)
    else:
        app = App(config, **kwargs)
    install_log_redaction(app.redactor)
    return app
