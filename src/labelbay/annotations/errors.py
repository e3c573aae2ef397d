from __future__ import annotations

from labelbay.errors import Invalid


class AnnotationInvalid(Invalid):
    """A field of an annotation payload is wrong; ``field`` is its path (``shapes[3].points``)."""

    code = "invalid_annotation"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)


class AnnotationNotFound(Invalid):
    """An update names an object that this task (or job) does not have: a 400, as in CVAT."""

    code = "annotation_not_found"

    def __init__(self, field: str, kind: str, object_id: int) -> None:
        super().__init__(f"{field}: there is no {kind} {object_id} here", field=field, id=object_id)


class UnknownAction(Invalid):
    code = "invalid_action"

    def __init__(self, action: str | None) -> None:
        given = "missing" if action is None else f"{action!r} is not one"
        super().__init__(
            f"action: {given}; use action=create, action=update or action=delete",
            field="action",
        )
