"""API users and their bearer tokens.

A token is generated when the user is made and shown once; the store keeps
only its SHA-256, so a copy of the database gives nobody a working token.
Making or replacing a user is an audited action.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from alerts import audit
from alerts.errors import InvalidAction
from alerts.schema import ROLES, users
from alerts.store import CaseStore


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Users:
    """Make users and look them up by token, in one store."""

    def __init__(self, store: CaseStore) -> None:
        self._store = store

    def create(self, username: str, role: str, *, actor: str, token: str | None = None) -> str:
        """Make (or replace) a user; returns the bearer token, which is not kept."""
        username = username.strip()
        if not username or len(username) > 128:
            msg = "a username must be 1 to 128 characters"
            raise InvalidAction(msg)
        if role not in ROLES:
            msg = f"unknown role {role!r}; expected one of {', '.join(ROLES)}"
            raise InvalidAction(msg)
        token = token or secrets.token_urlsafe(32)
        now = self._store.clock()
        with self._store.writing(f"making user {username}") as conn:
            old = conn.execute(
                sa.select(users.c.role).where(users.c.username == username)
            ).scalar_one_or_none()
            conn.execute(sa.delete(users).where(users.c.username == username))
            conn.execute(
                sa.insert(users).values(
                    username=username, role=role, token_sha256=token_digest(token), created_at=now
                )
            )
            audit.append(
                conn,
                at=now,
                actor=actor,
                action="user_set",
                case_id=None,
                before=None if old is None else {"username": username, "role": old},
                after={"username": username, "role": role},
            )
        return token

    def by_token(self, token: str) -> User | None:
        with self._store.reading("checking a token") as conn:
            row = conn.execute(
                sa.select(users.c.username, users.c.role).where(
                    users.c.token_sha256 == token_digest(token)
                )
            ).one_or_none()
        return None if row is None else User(row.username, row.role)

    def list(self) -> list[User]:
        with self._store.reading("listing users") as conn:
            rows = conn.execute(
                sa.select(users.c.username, users.c.role).order_by(users.c.username)
            )
            return [User(r.username, r.role) for r in rows]
