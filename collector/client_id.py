"""The collector's MQTT client id: generated once, kept secret in the data dir (issue 17, item 3).

Why: MQTT lets any client that can log in take over a session by connecting with its client id
(MQTT 3.1.1 section 3.1.4, MQTT 5 section 3.1.4: the server disconnects the existing client).
With the old documented default ``jishi-collector`` any broker user could knock the collector
off, and with a clean session throw away the QoS 1 messages queued for it. Mosquitto cannot bind
a client id to a user for us (see docs/collector.md, "Broker set-up"), so the id itself is the
secret: ``jishi-collector-`` and 64 random bits, made on first start and stored ``0600`` in the
data dir, reused on every start because the broker keeps our persistent session under it.

This module is the one place the collector's id is resolved; an explicit ``mqtt.client_id`` is
used as given, and :func:`weak_client_id_reason` says when it is guessable.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from jishi.errors import JishiError

# ``mqtt.client_id = "generated"`` (the default): use the id kept in the data dir.
GENERATED = "generated"
CLIENT_ID_FILE = "client_id"
PREFIX = "jishi-collector-"
# Shorter explicit ids are likely guessable (a name, a host name) rather than random.
MIN_SAFE_CHARS = 20
OLD_DEFAULT = "jishi-collector"
_GENERATED_ID = re.compile(r"^jishi-collector-[0-9a-f]{16}$")


class ClientIdError(JishiError):
    """The stored client id cannot be read or written."""


def new_client_id() -> str:
    """A fresh generated id: the prefix names it in broker logs, the 16 hex are the secret."""
    return PREFIX + secrets.token_hex(8)


def resolve_client_id(configured: str, data_dir: Path) -> str:
    """The id to connect with: ``configured`` as given, or for ``generated`` the one stored in
    ``data_dir/client_id`` (created ``0600`` on first use)."""
    if configured != GENERATED:
        return configured
    path = data_dir / CLIENT_ID_FILE
    try:
        stored = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        stored = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ClientIdError(f"{path}: cannot read the collector's client id: {exc}") from None
    if stored:
        if not _GENERATED_ID.match(stored):
            # Not ours: an edited file would silently change the session we resume.
            raise ClientIdError(
                f"{path}: not a generated client id ({stored!r}); delete the file to make a new "
                "one (the broker's queued messages for the old id are then not delivered)"
            )
        return stored
    client_id = new_client_id()
    # Written whole to a private temporary file, then linked into place: the file is never
    # seen empty or half written, and a second collector starting on the same data dir at the
    # same moment finds the first one's id (link fails if the name exists).
    temporary = data_dir / f".{CLIENT_ID_FILE}.{os.getpid()}"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(client_id + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return resolve_client_id(configured, data_dir)
        finally:
            temporary.unlink(missing_ok=True)
    except OSError as exc:
        raise ClientIdError(f"{path}: cannot store the collector's client id: {exc}") from None
    return client_id


def weak_client_id_reason(configured: str) -> str | None:
    """Why an explicit ``mqtt.client_id`` is unsafe, or None when it is ``generated`` or long."""
    if configured == GENERATED:
        return None
    if configured == OLD_DEFAULT:
        return (
            f"mqtt.client_id {configured!r} is the old documented default: any broker user can "
            "connect with it, disconnect the collector and (with a clean session) discard its "
            "queued messages; remove the line to use a generated, secret id"
        )
    if len(configured) < MIN_SAFE_CHARS:
        return (
            f"mqtt.client_id {configured!r} is short ({len(configured)} characters) and may be "
            "guessed: a broker user connecting with it disconnects the collector; remove the "
            f"line (a generated id) or use at least {MIN_SAFE_CHARS} random characters"
        )
    return None
