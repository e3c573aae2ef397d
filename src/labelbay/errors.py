"""The error family every layer raises; `api/errors.py` renders it as HTTP once."""

from __future__ import annotations

from typing import ClassVar


class AppError(Exception):
    """An expected failure with an HTTP status and a machine-readable code."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(
        self, message: str, *, headers: dict[str, str] | None = None, **detail: object
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = headers

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross process boundaries (media.codecpool); subclasses' own __init__
        # signatures differ, so rebuild from the stored fields instead of from args.
        return (_rebuild, (type(self), self.message, self.headers, self.detail))


def _rebuild(
    cls: type[AppError], message: str, headers: dict[str, str] | None, detail: dict[str, object]
) -> AppError:
    error = cls.__new__(cls)
    AppError.__init__(error, message, headers=headers, **detail)
    return error


class NotFound(AppError):
    status, code = 404, "not_found"

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key} was not found", resource=what, id=key)


class Invalid(AppError):
    """Bad input: the message names the field, file, member or frame at fault."""

    status, code = 400, "invalid"


class Conflict(AppError):
    status, code = 409, "conflict"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class Unauthenticated(AppError):
    status, code = 401, "not_authenticated"

    def __init__(self, message: str = "Authentication credentials were not provided.") -> None:
        super().__init__(message)


class TooLarge(AppError):
    status, code = 413, "too_large"


class MediaError(Invalid):
    """A file or archive member that cannot become a frame."""

    code = "bad_media"

    def __init__(self, message: str, *, file: str) -> None:
        super().__init__(f"{file}: {message}", file=file)
