"""The user directory applied to sessions: who a session's ``user`` is (pure, issue 13).

A session names its user as the source knew it: an account (OS login, sign-in point), a card
number (card reader), an e-mail (booking calendar). A :class:`Directory` maps each of those to
one :class:`DirectoryEntry`. It is applied when figures are computed, never copied into the
stored sessions, so a corrected directory corrects past figures.

Precedence (documented in docs/sessions.md): what a session states explicitly wins, the
directory fills what it leaves empty. A booking system's CSV that says ``external`` for one use
knows that use (an internal person billed as an outside project); a sign-in or a log names
only an account, and the directory supplies the rest. To let the directory decide, import
sessions without ``user_type`` and ``org``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from jishi.collector.usage.engine import Session

USER_TYPES = ("internal", "external", "staff")


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One person in the directory: the keys a session may carry, and who they are."""

    account: str
    user_type: str
    card: str | None = None
    email: str | None = None
    person: str | None = None
    org: str | None = None
    unit: str | None = None

    def lookup_keys(self) -> list[str]:
        """Every name a session may use for this person (e-mail case-blind)."""
        out = [self.account]
        if self.card:
            out.append(self.card)
        if self.email:
            out.append(self.email.lower())
        return out


def lookup_key(user: str) -> str:
    """The form a session's user is looked up by: trimmed, e-mail addresses lower-cased."""
    text = user.strip()
    return text.lower() if "@" in text else text


class Directory:
    """Entries by every key; an account wins over a card number, which wins over an e-mail,
    when two entries claim the same text (a card number equal to someone's account)."""

    def __init__(self, entries: Iterable[DirectoryEntry]) -> None:
        self._by_key: dict[str, DirectoryEntry] = {}
        ranked: list[tuple[int, str, DirectoryEntry]] = []
        for entry in entries:
            ranked += [(rank, key, entry) for rank, key in enumerate(entry.lookup_keys())]
        for _rank, key, entry in sorted(ranked, key=lambda r: r[0], reverse=True):
            self._by_key[key] = entry

    def find(self, user: str | None) -> DirectoryEntry | None:
        """The entry a session's ``user`` names, or None (no user, or not in the directory)."""
        if not user:
            return None
        return self._by_key.get(lookup_key(user))

    def apply(self, session: Session) -> Session:
        """``session`` with the directory's user type and organisation where it has none, and
        the person's name for the account or card number (the service record's 申请人)."""
        entry = self.find(session.user)
        if entry is None:
            return session
        return replace(
            session,
            user=entry.person or session.user,
            user_type=session.user_type or entry.user_type,
            org=session.org or entry.org,
            contact=session.contact or entry.email,
        )


def apply_directory(
    sessions: Mapping[str, list[Session]], directory: Directory
) -> dict[str, list[Session]]:
    """Every instrument's sessions with the directory applied."""
    return {key: [directory.apply(s) for s in items] for key, items in sessions.items()}


def unmatched_users(users: Iterable[str | None], directory: Directory) -> list[str]:
    """The distinct session users the directory does not know, sorted."""
    return sorted({u for u in users if u and directory.find(u) is None})
