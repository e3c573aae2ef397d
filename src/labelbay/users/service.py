from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labelbay.errors import Invalid, NotFound
from labelbay.users.auth import hash_password
from labelbay.users.errors import UsernameTaken
from labelbay.users.models import User

USERNAME = re.compile(r"^[\w.@+-]{1,150}$")


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    superuser: bool = False,
) -> User:
    if not USERNAME.match(username):
        raise Invalid("username: use 1-150 letters, digits and @.+-_ characters", field="username")
    if not password:
        raise Invalid("password: must not be empty", field="password")
    if session.scalar(select(func.count()).where(User.username == username)):
        raise UsernameTaken(username)
    user = User(
        username=username,
        password_hash=hash_password(password),
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_superuser=superuser,
    )
    session.add(user)
    session.flush()  # the id is returned to the caller
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


def find_user(session: Session, user_id: int | None) -> User | None:
    return None if user_id is None else session.get(User, user_id)


def basic_user(user: User | None, base: str) -> dict[str, object] | None:
    if user is None:
        return None
    return {
        "id": user.id,
        "url": f"{base}/api/users/{user.id}",
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
    }
