"""The CVAT list envelope: ``{"count", "next", "previous", "results"}``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from labelbay.api.querying import ListSpec, apply_list_query, check_page, page_links, parse_page

T = TypeVar("T")


def paginate(
    request: Request,
    session: Session,
    stmt: Select[Any],
    spec: ListSpec | None,
    render: Callable[[Sequence[Any]], list[dict[str, Any]]],
) -> dict[str, Any]:
    params = dict(request.query_params)
    settings = request.app.state.settings
    if spec is not None:
        stmt = apply_list_query(stmt, spec, params)
    page = parse_page(
        params, default_size=settings.default_page_size, max_size=settings.max_page_size
    )
    count = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    check_page(page, count)
    rows = session.execute(stmt.limit(page.page_size).offset((page.page - 1) * page.page_size))
    items = rows.scalars().all()
    base = str(request.url).split("?", 1)[0]
    nxt, prev = page_links(base, list(request.query_params.multi_items()), page, count)
    return {"count": count, "next": nxt, "previous": prev, "results": render(items)}
