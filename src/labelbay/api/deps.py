"""Request-scoped dependencies: the database session and the signed-in user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from labelbay.config import Settings
from labelbay.errors import Forbidden, Unauthenticated
from labelbay.users import auth
from labelbay.users.models import User

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session)]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


AppSettings = Annotated[Settings, Depends(get_settings_dep)]


def get_current_user(request: Request, session: DbSession) -> User:
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not key.strip():
            raise Unauthenticated("Invalid Authorization header: use 'Bearer <token>'.")
        user = auth.user_for_token(session, key.strip())
        if user is None:
            raise Unauthenticated("Invalid token.")
        return user
    session_key = request.cookies.get(auth.SESSION_COOKIE)
    if not session_key:
        raise Unauthenticated()
    found = auth.user_for_session(session, session_key)
    if found is None:
        raise Unauthenticated("Your session has expired; please sign in again.")
    user, csrf = found
    if request.method in UNSAFE:
        sent = request.headers.get("x-csrftoken", "")
        if not sent or sent != csrf:
            raise Forbidden("CSRF check failed: send the csrftoken cookie value as X-CSRFToken.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def base_url(request: Request) -> str:
    """The absolute origin the client used, without a trailing slash."""
    return str(request.base_url).rstrip("/")


BaseUrl = Annotated[str, Depends(base_url)]


def check_organization(request: Request) -> None:
    """Labelbay has personal workspaces only: an empty organisation is accepted, a named one
    is unknown."""
    slug = request.query_params.get("org") or request.headers.get("x-organization") or ""
    org_id = request.query_params.get("org_id") or ""
    if slug or org_id:
        from labelbay.errors import NotFound

        raise NotFound("organization", slug or org_id)


NoOrganization = Depends(check_organization)
