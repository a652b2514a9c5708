"""Files jishi writes are its own: outbox, ledger, status, offsets and logs readable only by the
account that runs it (issue 17: they were created 0644, so any local user could read the
ledger's evidence, the outbox's messages and the logs).

POSIX only: the long-running commands call :func:`keep_private` first, so everything they
create is ``0600`` (files) and ``0700`` (folders), and :func:`tighten` closes up a data dir made
by an earlier version. On Windows the data dir's ACL (``%ProgramData%`` inherits
administrators and SYSTEM only) does this job and both functions do nothing.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def keep_private() -> None:
    """From now on this process creates files ``0600`` and folders ``0700``."""
    if os.name == "posix":
        os.umask(PRIVATE_UMASK)


def tighten(folder: Path) -> int:
    """Take group and other permissions off ``folder`` and everything in it (not following
    links); returns how many entries were changed. A missing folder is left alone."""
    if os.name != "posix" or not folder.is_dir():
        return 0
    changed = 0
    for entry in [folder, *folder.rglob("*")]:
        try:
            mode = entry.lstat().st_mode
        except FileNotFoundError:  # removed while we walked (a rotated log)
            continue
        if stat.S_ISLNK(mode) or not mode & 0o077:
            continue
        entry.chmod(stat.S_IMODE(mode) & ~0o077)
        changed += 1
    return changed


def own_data_dir(data_dir: Path) -> None:
    """What a long-running command does first: keep what it creates private, and close up the
    data dir an earlier version may have left readable."""
    keep_private()
    tighten(data_dir)
