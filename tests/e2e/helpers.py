"""Shared helpers for the end-to-end tests: media generation, clients, small assertions."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from cvat_sdk import Client, make_client
from cvat_sdk.core.proxies.jobs import Job
from cvat_sdk.core.proxies.tasks import ResourceType, Task
from PIL import Image

from conftest import ADMIN, Server

Credentials = tuple[str, str]

DEFAULT_LABELS: list[dict[str, Any]] = [{"name": "car"}, {"name": "person"}]

# What a frame of each source format must be served as (spec 5.1: the image's MIME type).
MIME_BY_SUFFIX = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
}

# Lossless save options per format, so that decoded pixels equal the generated array.
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {
    ".webp": {"lossless": True},
    ".jpg": {"quality": 92},
    ".jpeg": {"quality": 92},
}


# ------------------------------------------------------------------------------------------
# Media


def noise(width: int, height: int, seed: int) -> np.ndarray:
    """A random RGB image as an ``(height, width, 3)`` uint8 array."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def save_image(path: Path, array: np.ndarray, **options: Any) -> Path:
    """Writes ``array`` in the format given by the path's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = {**_SAVE_OPTIONS.get(path.suffix.lower(), {}), **options}
    Image.fromarray(array).save(path, **merged)
    return path


def noise_image(path: Path, *, size: tuple[int, int] = (32, 24), seed: int = 0) -> Path:
    return save_image(path, noise(size[0], size[1], seed))


def noise_images(
    folder: Path, names: Sequence[str], *, size: tuple[int, int] = (32, 24), seed: int = 0
) -> list[Path]:
    """One random image per name (different content for each), in the order given."""
    return [
        noise_image(folder / name, size=size, seed=seed * 1000 + i) for i, name in enumerate(names)
    ]


def decode(data: bytes | Path) -> Image.Image:
    raw = data.read_bytes() if isinstance(data, Path) else data
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


def pixels(data: bytes | Path | Image.Image) -> np.ndarray:
    """Decoded RGB pixels of an encoded image (or of an already opened one)."""
    image = data if isinstance(data, Image.Image) else decode(data)
    return np.asarray(image.convert("RGB"))


def assert_same_pixels(actual: bytes | Path | Image.Image, expected: bytes | Path) -> None:
    got, want = pixels(actual), pixels(expected)
    assert got.shape == want.shape
    assert np.array_equal(got, want), f"{int(np.count_nonzero(got != want))} values differ"


def assert_jpeg(data: bytes, size: tuple[int, int]) -> None:
    image = decode(data)
    assert image.format == "JPEG"
    assert image.size == size


def zip_members(data: bytes) -> list[tuple[str, bytes]]:
    """Members of a zip in archive order (the order the SDK reads chunk frames in)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def as_datetime(value: Any) -> datetime:
    assert isinstance(value, datetime), value
    return value


# ------------------------------------------------------------------------------------------
# Clients


@contextmanager
def sdk_client(server: Server, credentials: Credentials = ADMIN) -> Iterator[Client]:
    """A cvat-sdk client signed in with a password, as ``make_client`` does it. It polls
    background requests every 0.1 s instead of the SDK's 5 s (our requests finish fast)."""
    client = make_client(server.host, port=server.port, credentials=credentials)
    client.config.status_check_period = 0.1
    try:
        yield client
    finally:
        client.close()


def login_key(server: Server, credentials: Credentials = ADMIN) -> str:
    response = httpx.post(
        f"{server.url}/api/auth/login",
        json={"username": credentials[0], "password": credentials[1]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    key = response.json()["key"]
    assert isinstance(key, str)
    return key


@contextmanager
def token_http(server: Server, credentials: Credentials = ADMIN) -> Iterator[httpx.Client]:
    """A plain HTTP client that sends ``Authorization: Token <key>`` for ``credentials``."""
    key = login_key(server, credentials)
    headers = {"Authorization": f"Token {key}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        yield client


def create_task(
    client: Client,
    files: Sequence[Path],
    *,
    name: str = "e2e task",
    labels: list[dict[str, Any]] | None = None,
    data_params: dict[str, Any] | None = None,
    status_check_period: int | None = None,
    **spec: Any,
) -> Task:
    """``create_from_data`` with local files; labels default to car/person outside projects."""
    body: dict[str, Any] = {"name": name, **spec}
    if "project_id" not in spec:
        body["labels"] = DEFAULT_LABELS if labels is None else labels
    return client.tasks.create_from_data(
        spec=body,
        resource_type=ResourceType.LOCAL,
        resources=list(files),
        data_params=data_params,
        status_check_period=status_check_period,
    )


def frame_names(task: Task) -> list[str]:
    return [frame.name for frame in task.get_meta().frames]


def jobs_in_order(task: Task) -> list[Job]:
    return sorted(task.get_jobs(), key=lambda job: (job.start_frame, job.id))


def original_frame(task: Task, number: int) -> bytes:
    return task.get_frame(number, quality="original").read()


def user_id(client: Client, username: str) -> int:
    found = [u for u in client.users.list(search=username) if u.username == username]
    assert len(found) == 1, found
    return int(found[0].id)


# ------------------------------------------------------------------------------------------
# cvat-cli


def run_cli(
    server: Server, credentials: Credentials, *args: str, home: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Runs the real cvat-cli (``python -m cvat_cli``) against the server."""
    env = {k: v for k, v in os.environ.items() if k not in ("CVAT_ACCESS_TOKEN", "PASS")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_CACHE_HOME=str(home / ".cache"))  # fmt: skip
    command = [
        sys.executable, "-m", "cvat_cli",
        "--server-host", server.host, "--server-port", str(server.port),
        "--auth", f"{credentials[0]}:{credentials[1]}",
        *args,
    ]  # fmt: skip
    result = subprocess.run(
        command, env=env, cwd=home, capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert result.returncode == 0, f"{args}: rc={result.returncode}\n{result.stderr}"
    return result
