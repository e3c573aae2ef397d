"""Request-scoped dependencies: the database session and the signed-in user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from labelbay.config import Settings
from labelbay.errors import Forbidden, Unauthenticated
from labelbay.users import auth
from labelbay.users.models import User

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


async def get_session(request: Request) -> AsyncIterator[Session]:
    # Async so that opening a session costs no thread hop; it touches the database only when
    # first used, in the route's worker thread. Routes commit; closing returns the connection.
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        session.close()


DbSession = Annotated[Session, Depends(get_session)]


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


AppSettings = Annotated[Settings, Depends(get_settings_dep)]


def _lookup(session: Session, key: str, kind: str) -> tuple[User, str] | None:
    if kind == "token":
        user = auth.user_for_token(session, key)
        return None if user is None else (user, "")
    return auth.user_for_session(session, key)


async def get_current_user(request: Request, session: DbSession) -> User:
    try:
        key, kind = auth.presented(
            request.headers.get("authorization", ""), request.cookies.get(auth.SESSION_COOKIE, "")
        )
    except ValueError as error:
        raise Unauthenticated(str(error)) from None
    if not key:
        raise Unauthenticated()
    found = auth.remembered(key, kind)
    if found is None:
        found = await run_in_threadpool(_lookup, session, key, kind)
        if found is None:
            if kind == "token":
                raise Unauthenticated("Invalid token.")
            raise Unauthenticated("Your session has expired; please sign in again.")
        found = (auth.remember(key, kind, *found), found[1])
    user, csrf = found
    if kind == "token":
        return user
    if request.method in UNSAFE:
        sent = request.headers.get("x-csrftoken", "")
        if not sent or sent != csrf:
            raise Forbidden("CSRF check failed: send the csrftoken cookie value as X-CSRFToken.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def base_url(request: Request) -> str:
    """The absolute origin the client used, without a trailing slash."""
    return str(request.base_url).rstrip("/")


BaseUrl = Annotated[str, Depends(base_url)]


async def check_organization(request: Request) -> None:
    """Labelbay has personal workspaces only: an empty organisation is accepted, a named one
    is unknown."""
    slug = request.query_params.get("org") or request.headers.get("x-organization") or ""
    org_id = request.query_params.get("org_id") or ""
    if slug or org_id:
        from labelbay.errors import NotFound

        raise NotFound("organization", slug or org_id)


NoOrganization = Depends(check_organization)
