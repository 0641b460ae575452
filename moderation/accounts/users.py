"""Console accounts: roles, argon2 passwords, login with lockout, sessions."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moderation.accounts import user_repository as users
from moderation.accounts.models import User
from moderation.audit import repository as audit

Role = Literal["reviewer", "policy_author", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
# Each role holds the rights of the ones before it: admin ⊇ policy_author ⊇ reviewer.
_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}
MIN_PASSWORD_CHARS = 10
_NOW = select(func.now())  # the database clock, which also stamps lockouts

_HASHER = PasswordHasher()
# Verified against when the email is unknown, so that answer takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def role_includes(held: str, needed: Role) -> bool:
    """Whether an account of role ``held`` may do what ``needed`` may."""
    return _RANK.get(held, -1) >= _RANK[needed]


@dataclass(frozen=True)
class ReviewerSession:
    """The signed-in console user: what pages check and scope by."""

    user_id: uuid.UUID
    email: str
    role: Role
    tenant_id: uuid.UUID | None  # None: every tenant
    csrf_token: str

    def has_role(self, role: Role) -> bool:
        """Whether this user's role includes ``role``."""
        return role_includes(self.role, role)

    def can_see(self, tenant_id: uuid.UUID | None) -> bool:
        """Whether this user may see an item of ``tenant_id``."""
        return self.tenant_id is None or self.tenant_id == tenant_id


def create_user(
    session: Session, email: str, password: str, role: Role, tenant_id: uuid.UUID | None
) -> User:
    """Create an account (ValueError for a bad role, short password or taken email)."""
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}' (one of {', '.join(ROLES)})")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    if "@" not in email or users.get_by_email(session, email) is not None:
        raise ValueError(f"'{email}' is not a valid, unused email")
    return users.create(session, email, _HASHER.hash(password), role, tenant_id)


class LoginRefused(Exception):
    """Wrong email or password, or a locked account; the message is safe to show."""


def _password_ok(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# One answer for an unknown email, a wrong password and a locked account, so the page never
# tells which emails have accounts; whether an account is locked goes to the audit trail.
REFUSED = "wrong email or password, or too many failed attempts: try again later or ask an admin"


def check_login(
    session: Session, email: str, password: str, max_failures: int, lockout: timedelta
) -> User:
    """The account these credentials open; LoginRefused otherwise, after counting the failure
    in ``session`` (the caller must commit it even though the login is refused)."""
    user = users.get_by_email(session, email)
    if user is None:
        _password_ok(_DUMMY_HASH, password)  # the same time as for a known email
        raise LoginRefused(REFUSED)
    good = _password_ok(user.password_hash, password)
    now = session.scalar(_NOW)
    assert now is not None
    if user.locked_until is not None and user.locked_until > now:
        _audit(session, user, "user.login_refused_locked", user.locked_until)
        raise LoginRefused(REFUSED)
    if not good:
        locked = users.record_failure(session, user.id, max_failures, lockout)
        _audit(session, user, "user.login_failed", locked if locked and locked > now else None)
        raise LoginRefused(REFUSED)
    rehash = _HASHER.hash(password) if _HASHER.check_needs_rehash(user.password_hash) else None
    users.record_success(session, user.id, rehash)
    _audit(session, user, "user.login")
    return user


def _audit(session: Session, user: User, event: str, locked_until: datetime | None = None) -> None:
    audit.append(
        session,
        tenant_id=user.tenant_id,
        subject_type="user",
        subject_id=str(user.id),
        event=event,
        actor=f"user:{user.email}",
        data=None if locked_until is None else {"locked_until": locked_until.isoformat()},
    )


def token_hash(token: str) -> str:
    """How a session token is stored: its sha256 (the token itself is only in the cookie)."""
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user: User, ttl: timedelta) -> str:
    """Start a login session for ``user``; returns the cookie token (stored only hashed)."""
    users.purge_expired_sessions(session)  # logins are rare enough to tidy up on
    token = secrets.token_urlsafe(32)
    users.open_session(session, token_hash(token), user.id, secrets.token_urlsafe(32), ttl)
    return token


def resume_session(session: Session, token: str) -> ReviewerSession | None:
    """The signed-in user of a cookie token, or None when unknown or expired."""
    found = users.live_session(session, token_hash(token))
    if found is None:
        return None
    row, user = found
    role: Role = user.role  # type: ignore[assignment]
    return ReviewerSession(user.id, user.email, role, user.tenant_id, row.csrf_token)


def close_session(session: Session, token: str) -> None:
    """End a login session (logout)."""
    users.close_session(session, token_hash(token))
