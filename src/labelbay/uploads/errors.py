from __future__ import annotations

from labelbay.errors import AppError, Conflict, Invalid, NotFound


class UploadNotFound(NotFound):
    code = "upload_not_found"

    def __init__(self, upload_id: str) -> None:
        super().__init__("upload", upload_id)


class OffsetMismatch(Conflict):
    code = "offset_mismatch"

    def __init__(self, filename: str, expected: int, sent: int) -> None:
        super().__init__(
            f"{filename}: Upload-Offset {sent} does not match the stored offset {expected}; "
            "resume from the stored offset (HEAD tells it)",
            file=filename,
            offset=expected,
            headers={"Upload-Offset": str(expected), "Tus-Resumable": "1.0.0"},
        )


class ChecksumMismatch(AppError):
    status, code = 460, "checksum_mismatch"

    def __init__(self, filename: str, offset: int) -> None:
        super().__init__(
            f"{filename}: the chunk at offset {offset} does not match its Upload-Checksum; "
            "send it again",
            file=filename,
            offset=offset,
        )


class BadFileName(Invalid):
    code = "bad_file_name"

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name!r}: {why}", file=name)
