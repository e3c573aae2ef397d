from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from labelbay.api.deps import AppSettings, BaseUrl, CurrentUser, DbSession
from labelbay.api.pagination import paginate
from labelbay.api.querying import ListSpec
from labelbay.api.responses import FastJSONResponse
from labelbay.api.routing import Router
from labelbay.db import iso, utcnow
from labelbay.users import auth, service
from labelbay.users.errors import LoginFailed
from labelbay.users.models import User

router = Router(tags=["auth", "users"])


class LoginRequest(BaseModel):
    username: str = Field(default="", max_length=150)
    email: str = ""
    password: str = Field(min_length=1)


def _cookie(name: str, value: str, max_age: int, *, http_only: bool) -> str:
    # Every cookie ends with an attribute that has a value: the CVAT client joins several
    # Set-Cookie headers with ", " and parses them as one (see the API spec, 2.3).
    flag = "; HttpOnly" if http_only else ""
    return f"{name}={value}{flag}; Max-Age={max_age}; Path=/; SameSite=Lax"


@router.post("/auth/login")
def login(body: LoginRequest, session: DbSession, settings: AppSettings) -> Response:
    user = auth.authenticate(session, body.username, body.password)
    if user is None:
        raise LoginFailed()
    opened = auth.open_session(session, user, days=settings.session_days)
    token = auth.issue_token(session, user)
    user.last_login = utcnow()
    max_age = settings.session_days * 86400
    response = FastJSONResponse({"key": token.key})
    response.headers.append(
        "set-cookie", _cookie(auth.CSRF_COOKIE, opened.csrf_token, max_age, http_only=False)
    )
    response.headers.append(
        "set-cookie", _cookie(auth.SESSION_COOKIE, opened.key, max_age, http_only=True)
    )
    return response


@router.post("/auth/logout")
def logout(request: Request, session: DbSession) -> Response:
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip() or None
    auth.close_session(session, session_key=request.cookies.get(auth.SESSION_COOKIE), token=token)
    response = FastJSONResponse({"detail": "Successfully logged out."})
    for name in (auth.CSRF_COOKIE, auth.SESSION_COOKIE):
        response.headers.append("set-cookie", f"{name}=; Max-Age=0; Path=/; SameSite=Lax")
    return response


def user_read(user: User, base: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "url": f"{base}/api/users/{user.id}",
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "groups": ["admin"] if user.is_superuser else ["user"],
        "is_staff": user.is_superuser,
        "is_superuser": user.is_superuser,
        "is_active": user.is_active,
        "last_login": iso(user.last_login),
        "date_joined": iso(user.date_joined),
        "has_analytics_access": False,
    }


USERS = ListSpec(
    fields={
        "id": User.id,
        "username": User.username,
        "first_name": User.first_name,
        "last_name": User.last_name,
        "is_active": User.is_active,
    },
    search=("username", "first_name", "last_name"),
    simple=("username", "first_name", "last_name", "is_active"),
    default_sort="id",
)


@router.get("/users/self")
def users_self(user: CurrentUser, base: BaseUrl) -> dict[str, Any]:
    return user_read(user, base)


@router.get("/users")
def list_users(
    request: Request, session: DbSession, user: CurrentUser, base: BaseUrl
) -> dict[str, Any]:
    # Every signed-in user may see who else exists (to pick assignees); details stay private.
    def render(rows: Sequence[User]) -> list[dict[str, Any]]:
        if user.is_superuser:
            return [user_read(u, base) for u in rows]
        return [service.basic_user(u, base) or {} for u in rows]

    return paginate(request, session, select(User), USERS, render)


@router.get("/users/{user_id}")
def get_user(user_id: int, session: DbSession, user: CurrentUser, base: BaseUrl) -> Any:
    found = service.get_user(session, user_id)
    if user.is_superuser or found.id == user.id:
        return user_read(found, base)
    return service.basic_user(found, base)
