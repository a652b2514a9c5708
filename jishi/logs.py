"""Logging set-up shared by the long-running commands: stderr plus a rotating file."""

from __future__ import annotations

import contextlib
import errno
import logging
import logging.handlers
import sys
import time
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# The file system has no room for the line: not a bug worth a traceback per line.
NO_ROOM = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


class SparingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file that a full disk silences (issue 17, 5): the first line it cannot
    write is reported once on stderr (a service's journal), not as a traceback per line, and
    the file is reopened and told how many lines it missed once space returns."""

    def __init__(self, filename: Path, **kwargs: object) -> None:
        super().__init__(filename, **kwargs)  # type: ignore[arg-type]  # RotatingFileHandler's own keywords
        self._failed = False  # the line being emitted could not be written
        self._lost = 0  # lines lost in the current spell; > 0 while the file cannot be written

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False
        super().emit(record)
        if self._failed or not self._lost or self.stream is None:
            return
        lost, self._lost = self._lost, 0
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(_line(f"log file writable again; {lost} line(s) missed, see stderr"))
            self.flush()

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        exc = sys.exc_info()[1]
        if not (isinstance(exc, OSError) and exc.errno in NO_ROOM):
            super().handleError(record)
            return
        self._failed = True
        if not self._lost:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(
                    _line(
                        f"cannot write the log file {self.baseFilename} ({exc.strerror}); "
                        "its lines go to stderr only until there is room again"
                    )
                )
        self._lost += 1
        # Drop the stream with what it buffered: the next line opens the file afresh.
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.close()


def _line(message: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} WARNING {__name__}: {message}\n"


def setup_logging(level: str = "info", log_file: Path | None = None) -> None:
    """Log to stderr and, if given, to ``log_file`` rotated at 5 MB with 5 old files kept,
    so an agent that runs for years never fills the disk."""
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stream = logging.StreamHandler()
    stream.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(stream)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        rotating = SparingFileHandler(
            log_file, maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
        )
        rotating.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(rotating)
    # paho and pymodbus are chatty at INFO; their problems reach us as return codes.
    for noisy in ("pymodbus", "paho", "amqtt", "transitions", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
