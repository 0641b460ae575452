"""Console accounts and their login sessions."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from moderation.accounts.models import User, UserSession


def get_by_email(session: Session, email: str) -> User | None:
    """The account with this email (case-insensitive), if any."""
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create(
    session: Session, email: str, password_hash: str, role: str, tenant_id: uuid.UUID | None
) -> User:
    """Insert an account."""
    user = User(
        id=uuid.uuid4(),
        email=email.strip(),
        password_hash=password_hash,
        role=role,
        tenant_id=tenant_id,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    return user


def record_failure(
    session: Session, user_id: uuid.UUID, max_failures: int, lockout: timedelta
) -> datetime | None:
    """Count a failed login in one statement (safe under concurrent attempts); at
    ``max_failures`` in a row the account locks for ``lockout``. Returns ``locked_until``."""
    failures = User.failed_logins + 1
    locks = failures >= max_failures
    return session.scalar(
        update(User)
        .where(User.id == user_id)
        .values(
            failed_logins=case((locks, 0), else_=failures),
            locked_until=case((locks, func.now() + lockout), else_=User.locked_until),
        )
        .returning(User.locked_until)
    )


def record_success(session: Session, user_id: uuid.UUID, password_hash: str | None) -> None:
    """Reset the failure count after a good login (and store a rehashed password if given)."""
    values: dict[str, object] = {"failed_logins": 0, "locked_until": None}
    if password_hash is not None:
        values["password_hash"] = password_hash
    session.execute(update(User).where(User.id == user_id).values(**values))


def open_session(
    session: Session, token_hash: str, user_id: uuid.UUID, csrf_token: str, ttl: timedelta
) -> None:
    """Store a login session keyed by the hash of its cookie token."""
    session.add(
        UserSession(
            id=token_hash, user_id=user_id, csrf_token=csrf_token, expires_at=func.now() + ttl
        )
    )
    session.flush()


def live_session(session: Session, token_hash: str) -> tuple[UserSession, User] | None:
    """The unexpired session with this token hash and its account; marks it seen now."""
    row = session.execute(
        update(UserSession)
        .where(UserSession.id == token_hash, UserSession.expires_at > func.now())
        .values(last_seen=func.now())
        .returning(UserSession)
    ).scalar_one_or_none()
    if row is None:
        return None
    return row, session.get_one(User, row.user_id)


def close_session(session: Session, token_hash: str) -> None:
    """Delete a login session (logout)."""
    session.execute(delete(UserSession).where(UserSession.id == token_hash))


def purge_expired_sessions(session: Session) -> int:
    """Delete expired sessions; returns how many."""
    result = session.execute(delete(UserSession).where(UserSession.expires_at <= func.now()))
    return int(getattr(result, "rowcount", 0))
