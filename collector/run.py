"""``jishi collector run``: the collector as a long-running service, from its config file and
the command line, until SIGTERM or Ctrl-C (or until its ingest worker dies: crash-only)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from jishi.collector.config import config_from_args
from jishi.collector.ingest.worker import ProcessPipeline
from jishi.collector.service import start_collector
from jishi.errors import ConfigError
from jishi.files import own_data_dir
from jishi.gctune import tune_for_throughput
from jishi.i18n import _

log = logging.getLogger(__name__)

ADMIN_TOKEN_ENV = "JISHI_ADMIN_TOKEN"  # noqa: S105 - the variable name, not a secret
MIN_ADMIN_TOKEN_CHARS = 16
# Placeholders seen in examples and tutorials: an attacker tries these first.
_PLACEHOLDERS = {"change-me", "changeme", "change_me", "admin", "password", "secret", "token"}


def check_admin_token(token: str) -> None:
    """Refuse an admin token anyone could guess: short, a placeholder, or one repeated
    character. Raises :class:`ConfigError` saying how to make a good one."""
    weak = (
        len(token) < MIN_ADMIN_TOKEN_CHARS
        or token.strip().lower() in _PLACEHOLDERS
        or len(set(token)) < 4
    )
    if weak:
        raise ConfigError(
            ADMIN_TOKEN_ENV,
            None,
            _(
                "the admin token is too easy to guess (at least {count} random characters are "
                "needed)"
            ).format(count=MIN_ADMIN_TOKEN_CHARS),
            _('make one with: export JISHI_ADMIN_TOKEN="$(openssl rand -hex 24)"'),
        )


def run_from_args(args: argparse.Namespace) -> int:
    """``jishi collector run -c FILE [--broker URL] [--db URL] [--api-port P]``."""
    config = config_from_args(args)
    own_data_dir(config.data_dir)
    # The MQTT thread allocates per message too: fewer, larger collections (see gctune).
    tune_for_throughput()
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    admin_token = os.environ.get(ADMIN_TOKEN_ENV) or None
    if admin_token is not None:
        check_admin_token(admin_token)
    else:
        log.warning(
            "%s is not set: only tokens made with 'jishi collector token create' are accepted",
            ADMIN_TOKEN_ENV,
        )
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    collector = start_collector(
        config, admin_token=admin_token, create_ledger=bool(getattr(args, "create_ledger", False))
    )
    if isinstance(collector.pipeline, ProcessPipeline):
        # Crash-only: if the worker dies, stop cleanly and let the service manager restart
        # us; unacknowledged messages wait in the broker's persistent session.
        collector.pipeline.on_failure = stop.set
    print(
        _(
            "collector: ingesting from {broker} into {dialect}, API on {url}/api/v1 (docs at "
            "{url}/docs)"
        ).format(
            broker=config.mqtt.broker, dialect=collector.engines.dialect, url=collector.api_url
        ),
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        collector.stop()
    pipeline = collector.pipeline
    if isinstance(pipeline, ProcessPipeline) and pipeline.failed.is_set():
        print(_("error: the ingest worker died; collector stopped (restart it)"), file=sys.stderr)
        return 1
    return 0
