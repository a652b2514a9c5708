"""API bearer tokens with roles ``read`` < ``write`` < ``admin``, stored as SHA-256 hashes.

Tokens are 32 random bytes (urlsafe), so a fast hash is enough: there is nothing to brute-force
that a slow password hash would protect. The admin token from ``JISHI_ADMIN_TOKEN`` is read at
the edge (CLI or demo) and handed in; it is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update

from jishi.collector.ledger import tables
from jishi.collector.ledger.db import Engines
from jishi.errors import JishiError

ROLES = ("read", "write", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


class TokenError(JishiError):
    """A token operation that cannot be done (unknown role, unknown token)."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def allows(role: str, needed: str) -> bool:
    return _RANK[role] >= _RANK[needed]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored API token as listed (never its clear text)."""

    id: int
    name: str
    role: str
    created_at: float
    revoked_at: float | None


class TokenStore:
    """API bearer tokens, stored hashed; the admin token from the environment is checked too."""

    def __init__(
        self,
        engines: Engines,
        admin_token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engines = engines
        self._admin_hash = hash_token(admin_token) if admin_token else None
        self.clock = clock

    def role_of(self, token: str) -> str | None:
        """The role of a presented token, or None if it is unknown or revoked."""
        digest = hash_token(token)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return "admin"
        t = tables.tokens
        with self.engines.read.connect() as conn:
            row = conn.execute(
                select(t.c.role).where(t.c.token_hash == digest, t.c.revoked_at.is_(None))
            ).first()
        return None if row is None else str(row.role)

    def create(self, name: str, role: str) -> tuple[TokenInfo, str]:
        """A new token; the clear text is returned once and never stored."""
        if role not in _RANK:
            raise TokenError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        token = "jishi_" + secrets.token_urlsafe(32)
        now = self.clock()
        with self.engines.write.begin() as conn:
            result = conn.execute(
                insert(tables.tokens).values(
                    name=name[:100], role=role, token_hash=hash_token(token), created_at=now
                )
            )
            (token_id,) = result.inserted_primary_key or (0,)
        return TokenInfo(int(token_id), name, role, now, None), token

    def list(self) -> list[TokenInfo]:
        t = tables.tokens
        with self.engines.read.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.id)).mappings().all()
        return [_info(r) for r in rows]

    def revoke(self, ident: str) -> TokenInfo:
        """Revoke by id or by name (a name must be unique among active tokens)."""
        t = tables.tokens
        with self.engines.write.begin() as conn:
            query = select(t).where(t.c.revoked_at.is_(None))
            if ident.isdigit() and int(ident) < 2**63:
                query = query.where(t.c.id == int(ident))
            else:
                query = query.where(t.c.name == ident)
            rows = conn.execute(query).mappings().all()
            if not rows:
                raise TokenError(f"no active token with id or name {ident!r}")
            if len(rows) > 1:
                raise TokenError(f"{len(rows)} active tokens are named {ident!r}; revoke by id")
            now = self.clock()
            conn.execute(update(t).where(t.c.id == rows[0]["id"]).values(revoked_at=now))
        return _info({**rows[0], "revoked_at": now})


def _info(row: Any) -> TokenInfo:
    return TokenInfo(row["id"], row["name"], row["role"], row["created_at"], row["revoked_at"])
