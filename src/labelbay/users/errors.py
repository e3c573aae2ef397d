from __future__ import annotations

from labelbay.errors import AppError, Conflict


class UsernameTaken(Conflict):
    code = "username_taken"

    def __init__(self, username: str) -> None:
        super().__init__(f"a user named {username!r} already exists", username=username)


class LoginFailed(AppError):
    status, code = 400, "login_failed"

    def __init__(self) -> None:
        super().__init__(
            "Unable to log in with provided credentials.",
            non_field_errors=["Unable to log in with provided credentials."],
        )
