"""Videos the server must refuse (with a 4xx naming the file, leaving the task empty and
ready for a good upload), and a stored video damaged after ingest (an error naming the
frame, while frames outside the damage still serve)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from cvat_sdk import Client
from cvat_sdk.core.proxies.tasks import Task
from cvat_sdk.exceptions import ApiException

from conftest import ADMIN, Server, launch_server
from e2e.helpers import DEFAULT_LABELS, decode, noise_image, pixels, sdk_client

from .helpers import (
    VideoSpec,
    burst,
    decode_all,
    error_detail,
    make_audio_only,
    make_video,
    packets_in_order,
    read_number,
    stored_video,
    task_data,
)

GOOD = VideoSpec("good.mp4", "libx264", 20, (64, 48))


def empty_task(client: Client, name: str) -> Task:
    return client.tasks.create({"name": name, "labels": DEFAULT_LABELS})


def refused(task: Task, files: list[Path]) -> tuple[int, dict[str, object]]:
    """Uploads ``files`` with the SDK, which must fail; the status and the JSON error."""
    with pytest.raises(ApiException) as raised:
        task.upload_data(files)
    body = json.loads(raised.value.body)
    assert isinstance(body, dict), body
    return int(raised.value.status), body


def assert_still_empty_then_accepts(task: Task, good: Path, frames: int) -> None:
    task.fetch()
    assert task.size == 0
    assert task.get_jobs() == []
    task.upload_data([good])
    task.fetch()
    assert task.size == frames
    assert len(task.get_jobs()) == 1
    first = decode(task.get_frame(0, quality="original").read())
    assert read_number(first) == 0


def truncated(path: Path) -> Path:
    """An MP4 cut in half: its frame index (written at the end) is lost."""
    data = make_video(path.parent, VideoSpec("whole.mp4", "libx264", 30, (64, 48))).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def image_named_mp4(path: Path) -> Path:
    noise_image(path.with_suffix(".png"), size=(32, 24), seed=2)
    path.write_bytes(path.with_suffix(".png").read_bytes())
    return path


def empty_file(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def random_bytes(path: Path) -> Path:
    data = np.random.default_rng(3).bytes(4096)
    assert data[4:8] not in (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide")
    path.write_bytes(data)
    return path


BAD: dict[str, Callable[[Path], Path]] = {
    "empty.mp4": empty_file,
    "noise.mp4": random_bytes,
    "audio.mp4": make_audio_only,
    "audio.mkv": make_audio_only,
    "picture.mp4": image_named_mp4,
    "truncated.mp4": truncated,
}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("good"), GOOD)


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_video_is_refused_naming_it(
    client: Client, good: Path, tmp_path: Path, name: str
) -> None:
    bad = BAD[name](tmp_path / name)
    assert bad.name == name
    task = empty_task(client, f"bad {name}")
    status, body = refused(task, [bad])
    assert 400 <= status < 500, (status, body)
    assert name in str(body["detail"]), body
    assert body.get("file") == name, body
    assert_still_empty_then_accepts(task, good, GOOD.frames)


def test_a_video_and_an_image_together_are_refused(
    client: Client, good: Path, tmp_path: Path
) -> None:
    image = noise_image(tmp_path / "extra.png", size=(64, 48))
    task = empty_task(client, "video and image")
    status, body = refused(task, [good, image])
    assert 400 <= status < 500, (status, body)
    detail = str(body["detail"])
    assert "one video" in detail and "images" in detail, body
    assert good.name in detail, body
    assert_still_empty_then_accepts(task, good, GOOD.frames)


def test_two_videos_are_refused(client: Client, good: Path, tmp_path: Path) -> None:
    other = make_video(tmp_path, VideoSpec("other.webm", "libvpx-vp9", 12, (64, 48)))
    task = empty_task(client, "two videos")
    status, body = refused(task, [good, other])
    assert 400 <= status < 500, (status, body)
    detail = str(body["detail"])
    assert "one video" in detail, body
    assert good.name in detail or other.name in detail, body
    assert_still_empty_then_accepts(task, good, GOOD.frames)


# ------------------------------------------------------------------------------------------
# Frame size limit


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {"LABELBAY_MAX_IMAGE_PIXELS": "1000", "LABELBAY_QUEUE_WORKERS": "0"}
    with launch_server(tmp_path_factory.mktemp("limit"), settings, db_suffix="_limit") as up:
        yield up


def test_a_video_over_the_pixel_limit_is_refused(small_limit: Server, tmp_path: Path) -> None:
    big = make_video(tmp_path, VideoSpec("big.mp4", "libx264", 12, (64, 48)))
    small = make_video(tmp_path, VideoSpec("small.mp4", "libx264", 12, (32, 24)))
    with sdk_client(small_limit, ADMIN) as client:
        task = empty_task(client, "too many pixels")
        status, body = refused(task, [big])
        assert 400 <= status < 500, (status, body)
        detail = str(body["detail"])
        assert "big.mp4" in detail and "1000" in detail, body
        task.fetch()
        assert task.size == 0
        task.upload_data([small])
        task.fetch()
        assert task.size == 12


# ------------------------------------------------------------------------------------------
# Damage after ingest


DAMAGED = range(22, 28)  # frames of the GOP 20-29 whose packets get overwritten


def damage_packets(path: Path, stored: Path) -> None:
    """Overwrites the packets of the ``DAMAGED`` frames of ``stored`` (a copy of ``path``)
    with random bytes; the container's own structures around them stay intact."""
    packets = packets_in_order(path)
    data = bytearray(stored.read_bytes())
    rng = np.random.default_rng(11)
    for number in DAMAGED:
        position, size, key = packets[number]
        assert not key and position > 0
        data[position : position + size] = rng.bytes(size)
    stored.write_bytes(bytes(data))


def damage_to_the_end(path: Path, stored: Path) -> None:
    """Overwrites everything from the packet of frame 22 to the end of the video data."""
    packets = packets_in_order(path)
    start = packets[DAMAGED[0]][0]
    end = max(position + size for position, size, _ in packets)
    data = bytearray(stored.read_bytes())
    data[start:end] = np.random.default_rng(12).bytes(end - start)
    stored.write_bytes(bytes(data))


def damaged_task(
    client: Client, server: Server, folder: Path, spec: VideoSpec,
    damage: Callable[[Path, Path], None],
) -> tuple[int, list[np.ndarray]]:  # fmt: skip
    """A task of ``spec`` whose stored video is then damaged; nothing was built before."""
    source = make_video(folder, spec)
    task = client.tasks.create({"name": f"damaged {spec.name}", "labels": DEFAULT_LABELS})
    task.upload_data([source], params={"chunk_size": 10})
    damage(source, stored_video(server, task.id, spec.name))
    return task.id, decode_all(source)


def assert_frame_error(
    http: httpx.Client, task_id: int, number: int, quality: str, name: str
) -> int:
    response = task_data(http, task_id, "frame", number, quality)
    assert 400 <= response.status_code < 600, (quality, number, response.status_code)
    assert response.status_code != 503, response.text  # not "busy": retrying won't help
    detail = error_detail(response)
    assert f"frame {number}" in detail, (quality, number, detail)
    assert name in detail, detail
    return response.status_code


def assert_frame_serves(
    http: httpx.Client, task_id: int, number: int, reference: list[np.ndarray]
) -> None:
    response = task_data(http, task_id, "frame", number, "original")
    assert response.status_code == 200, (number, response.text)
    assert np.array_equal(pixels(response.content), reference[number]), number


@pytest.mark.parametrize("name", ["damaged.mp4", "damaged.mkv"])
def test_a_frame_damaged_after_ingest_is_an_error_naming_it(
    cold_client: Client, cold_server: Server, cold_http: httpx.Client, tmp_path: Path, name: str
) -> None:
    spec = VideoSpec(name, "libx264", 45, (160, 120))
    task_id, reference = damaged_task(cold_client, cold_server, tmp_path, spec, damage_packets)

    statuses = {
        (quality, number): assert_frame_error(cold_http, task_id, number, quality, name)
        for quality in ("original", "compressed")
        for number in (25, 22)
    }
    # The chunk holding the damage fails too, naming a damaged frame.
    chunk = task_data(cold_http, task_id, "chunk", 2, "compressed")
    assert 400 <= chunk.status_code < 600
    detail = error_detail(chunk)
    assert any(f"frame {n}" in detail or f"frames {n}" in detail for n in DAMAGED), detail

    # Frames before the damage still serve exactly; in an MP4 (whose sample table locates
    # every packet) so do the frames from the next keyframe on.
    after = (35, 44) if name.endswith(".mp4") else ()
    for number in (0, 19, *after):
        assert_frame_serves(cold_http, task_id, number, reference)
    # A failure is not cached as a frame: asking again fails the same way.
    again = assert_frame_error(cold_http, task_id, 25, "original", name)
    assert again == statuses["original", 25]


def test_a_failing_build_fails_every_waiting_request(
    cold_client: Client, cold_server: Server, tmp_path: Path
) -> None:
    """Requests that joined a build which then failed all get its error, as JSON; nothing
    is stored, so the next request tries again (and fails again)."""
    spec = VideoSpec("joined.mp4", "libx264", 45, (160, 120))
    task_id, _ = damaged_task(cold_client, cold_server, tmp_path, spec, damage_packets)

    def frame(http: httpx.Client) -> httpx.Response:
        return task_data(http, task_id, "frame", 24, "compressed")

    responses = burst(cold_server, [frame] * 12)
    assert {response.status_code for response in responses} == {responses[0].status_code}
    assert 400 <= responses[0].status_code < 600 and responses[0].status_code != 503
    details = {error_detail(response) for response in responses}
    assert len(details) == 1, details
    assert "frame 24" in details.pop()
    [later] = burst(cold_server, [frame])
    assert later.status_code == responses[0].status_code


@pytest.mark.parametrize(
    "spec",
    [
        VideoSpec("cut.webm", "libvpx-vp9", 45, (96, 64)),
        VideoSpec("cut.avi", "mpeg4", 45, (96, 64)),
    ],
    ids=["webm", "avi"],
)
def test_frames_after_damage_running_to_the_end_are_errors_naming_them(
    cold_client: Client, cold_server: Server, cold_http: httpx.Client, tmp_path: Path,
    spec: VideoSpec,
) -> None:  # fmt: skip
    """Nothing after the damage can be demuxed: every later frame is an error, and the error
    names the frame that was asked for (not the first one that went missing)."""
    task_id, reference = damaged_task(cold_client, cold_server, tmp_path, spec, damage_to_the_end)
    assert_frame_serves(cold_http, task_id, 0, reference)
    assert_frame_serves(cold_http, task_id, 21, reference)
    for number in (22, 25, 35, spec.frames - 1):
        assert_frame_error(cold_http, task_id, number, "original", spec.name)
