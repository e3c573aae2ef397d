"""Passwords, sessions and tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from labelbay.db import utcnow
from labelbay.users.models import AuthKey, User

SESSION_COOKIE = "sessionid"
CSRF_COOKIE = "csrftoken"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    computed = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), dklen=32, n=int(n), r=8, p=1
    )
    return hmac.compare_digest(computed, base64.b64decode(digest))


def _new_key() -> str:
    # Plain [A-Za-z0-9] so that the value survives the CVAT client's cookie parser.
    return secrets.token_hex(20)


def open_session(session: Session, user: User, *, days: int) -> AuthKey:
    key = AuthKey(
        key=_new_key(),
        kind="session",
        user_id=user.id,
        csrf_token=_new_key(),
        expires=utcnow() + timedelta(days=days),
    )
    session.add(key)
    return key


def issue_token(session: Session, user: User) -> AuthKey:
    """The ``key`` of a login: usable as ``Authorization: Token <key>`` or ``Bearer <key>``."""
    token = AuthKey(key=_new_key(), kind="token", user_id=user.id)
    session.add(token)
    return token


def _lookup(session: Session, key: str, kind: str) -> tuple[User, AuthKey] | None:
    """The active user behind a key, in one query (it runs on every request)."""
    row = session.execute(
        select(User, AuthKey)
        .join(AuthKey, AuthKey.user_id == User.id)
        .where(AuthKey.key == key, AuthKey.kind == kind, User.is_active.is_(True))
    ).first()
    return None if row is None else (row[0], row[1])


def user_for_token(session: Session, key: str) -> User | None:
    found = _lookup(session, key, "token")
    return None if found is None else found[0]


def user_for_session(session: Session, key: str) -> tuple[User, str] | None:
    found = _lookup(session, key, "session")
    if found is None:
        return None
    user, row = found
    if row.expires is not None and row.expires < utcnow():
        return None
    return user, row.csrf_token


# Every request authenticates; a short-lived per-process memo of key -> user saves a query
# on each of them. A logout clears it here at once and in other server processes within TTL.
MEMO_TTL_SECONDS = 5.0
_MEMO_LIMIT = 10_000
_memo: dict[tuple[str, str], tuple[float, User, str]] = {}
_memo_lock = threading.Lock()


def _snapshot(user: User) -> User:
    """A copy attached to no session, safe to share between requests (read-only use)."""
    return User(**{c.key: getattr(user, c.key) for c in User.__table__.columns})


def presented(authorization: str, cookie: str) -> tuple[str, str]:
    """The key a request presents and its kind: the ``Authorization`` header's token
    (``"token"``), else the session cookie (``"session"``; ``""`` when there is none).
    ``ValueError`` for a header that is not ``Bearer <token>`` / ``Token <token>``."""
    if authorization:
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() not in ("bearer", "token") or not key:
            raise ValueError("Invalid Authorization header: use 'Bearer <token>'.")
        return key, "token"
    return cookie, "session"


def remembered(key: str, kind: str) -> tuple[User, str] | None:
    with _memo_lock:
        hit = _memo.get((key, kind))
    if hit is None or hit[0] < time.monotonic():
        return None
    return hit[1], hit[2]


def remember(key: str, kind: str, user: User, csrf: str) -> User:
    snapshot = _snapshot(user)
    with _memo_lock:
        if len(_memo) >= _MEMO_LIMIT:
            _memo.clear()
        _memo[(key, kind)] = (time.monotonic() + MEMO_TTL_SECONDS, snapshot, csrf)
    return snapshot


def forget(*keys: str | None) -> None:
    with _memo_lock:
        for key in keys:
            for kind in ("token", "session"):
                _memo.pop((key or "", kind), None)


def close_session(session: Session, *, session_key: str | None, token: str | None) -> None:
    forget(session_key, token)
    keys = [k for k in (session_key, token) if k]
    if keys:
        session.execute(delete(AuthKey).where(AuthKey.key.in_(keys)))


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active or not check_password(password, user.password_hash):
        return None
    return user
