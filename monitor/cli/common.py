"""Helpers the command modules share: building the App from parsed arguments."""

from __future__ import annotations

import argparse
from typing import Any

from monitor.config import load_config


def load_app(args: argparse.Namespace, **kwargs: Any):  # noqa: ANN201
    """The App for these arguments: --config, --db and --replay applied."""
    from monitor.app import App

    config = load_config(args.config)
    if getattr(args, "db", None):
        config = config.model_copy(update={"storage": config.storage.model_copy(update={"url": args.db})})
    if getattr(args, "replay", None):
        from monitor.demo.replay import replay_app

        return replay_app(config, args.replay, **kwargs)
    return App(config, **kwargs)
