"""Video tasks through the real cvat-sdk: one task per container/codec, frames served exactly.

Each test video is made here with PyAV (see ``helpers.numbered_picture``). The reference for
every check is a plain sequential decode of the source file with PyAV: an original frame
must be pixel-identical to it, a compressed frame or chunk must at least show the right
frame number.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cvat_sdk import Client
from cvat_sdk.core.proxies.jobs import Job
from cvat_sdk.core.proxies.tasks import Task
from cvat_sdk.exceptions import ApiException

from e2e.helpers import DEFAULT_LABELS, create_task, decode, jobs_in_order, pixels, zip_members

from .helpers import VideoSpec, decode_all, keyframes, make_video, read_number

CASES = [
    VideoSpec("h264.mp4", "libx264", 45, (160, 120)),
    VideoSpec("vp9.webm", "libvpx-vp9", 30, (96, 64)),
    VideoSpec("h264.mkv", "libx264", 40, (128, 96)),
    VideoSpec("mpeg4.avi", "mpeg4", 60, (64, 48)),
    VideoSpec("h264.mov", "libx264", 90, (320, 240)),
    VideoSpec("mpeg4-bframes.avi", "mpeg4", 50, (64, 48), b_frames=2),
]
BY_NAME = {spec.name: spec for spec in CASES}
CHUNK = 16
DEFAULT_CHUNK = {"h264.mov"}  # left to the server


@dataclass(frozen=True)
class Source:
    spec: VideoSpec
    path: Path
    reference: list[np.ndarray]
    keyframes: list[int]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Source]:
    folder = tmp_path_factory.mktemp("videos")
    made: dict[str, Source] = {}
    for spec in CASES:
        path = make_video(folder, spec)
        reference = decode_all(path)
        assert len(reference) == spec.frames
        assert [read_number(frame) for frame in reference] == list(range(spec.frames))
        made[spec.name] = Source(spec, path, reference, keyframes(path))
    return made


@dataclass(frozen=True)
class VideoTask:
    source: Source
    task: Task
    jobs_at_once: list[tuple[int, int]]
    chunk_size: int
    segment_size: int


def segment_size(spec: VideoSpec) -> int:
    return spec.frames // 2 + 3  # two jobs, the second one shorter


@pytest.fixture(scope="module", params=[spec.name for spec in CASES])
def video_task(
    request: pytest.FixtureRequest, client: Client, sources: dict[str, Source]
) -> VideoTask:
    source = sources[request.param]
    params: dict[str, Any] = {} if source.spec.name in DEFAULT_CHUNK else {"chunk_size": CHUNK}
    segment = segment_size(source.spec)
    task = create_task(
        client, [source.path], name=f"video {source.spec.name}", segment_size=segment,
        data_params=params,
    )  # fmt: skip
    jobs = [(job.start_frame, job.stop_frame) for job in jobs_in_order(task)]
    task.fetch()
    assert task.data_chunk_size
    return VideoTask(source, task, jobs, int(task.data_chunk_size), segment)


def samples(source: Source, seed: int) -> list[int]:
    """Frames worth asking for: first, last, keyframes and their neighbours, random ones;
    in a random order, so that the server has to seek backwards as well as forwards."""
    last = source.spec.frames - 1
    chosen = {0, last, last - 1}
    for key in source.keyframes[1:4]:
        chosen |= {key, key - 1, key + 1}
    rng = random.Random(seed)
    chosen |= set(rng.sample(range(source.spec.frames), 5))
    order = sorted(n for n in chosen if 0 <= n <= last)
    rng.shuffle(order)
    return order


def original(task: Task | Job, number: int) -> bytes:
    return bytes(task.get_frame(number, quality="original").read())


def chunk_bytes(task: Task, number: int, quality: str) -> bytes:
    buffer = io.BytesIO()
    task.download_chunk(number, buffer, quality=quality)
    return buffer.getvalue()


def assert_exact(data: bytes, expected: np.ndarray, what: str) -> None:
    image = decode(data)
    assert image.format == "PNG", (what, image.format)
    got = pixels(image)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    differ = int(np.count_nonzero(got != expected))
    assert differ == 0, f"{what}: {differ} values differ from the sequential decode"


# ------------------------------------------------------------------------------------------
# One task per video


def test_task_jobs_and_meta(video_task: VideoTask) -> None:
    spec, task = video_task.source.spec, video_task.task
    frames = spec.frames
    segment = video_task.segment_size
    assert video_task.jobs_at_once == [(0, segment - 1), (segment, frames - 1)]
    assert task.size == frames
    assert task.data_compressed_chunk_type == "video"
    assert task.data_original_chunk_type == "imageset"
    if spec.name not in DEFAULT_CHUNK:
        assert video_task.chunk_size == CHUNK
    meta = task.get_meta()
    assert meta.size == frames
    assert meta.start_frame == 0
    assert meta.stop_frame == frames - 1
    assert meta.frame_filter == ""
    assert meta.chunk_size == video_task.chunk_size
    assert len(meta.frames) == frames
    assert {(frame.width, frame.height) for frame in meta.frames} == {spec.size}
    for job in task.get_jobs():
        assert job.data_compressed_chunk_type == "video"
        assert job.data_original_chunk_type == "imageset"
    preview = decode(task.get_preview().read())
    assert preview.format == "JPEG"
    assert read_number(preview) == 0


def test_original_frames_are_exact(video_task: VideoTask) -> None:
    source, task = video_task.source, video_task.task
    for number in samples(source, seed=len(source.spec.name)):
        data = original(task, number)
        assert_exact(data, source.reference[number], f"{source.spec.name} frame {number}")


def test_compressed_frames_are_jpegs_of_the_frame(video_task: VideoTask) -> None:
    source, task = video_task.source, video_task.task
    for number in samples(source, seed=7):
        image = decode(task.get_frame(number, quality="compressed").read())
        assert image.format == "JPEG"
        assert image.size == source.spec.size
        assert read_number(image) == number, source.spec.name
    default = decode(task.get_frame(source.spec.frames - 1).read())  # no quality: compressed
    assert default.format == "JPEG"


def test_original_chunks_are_exact_zips(video_task: VideoTask) -> None:
    source, task, size = video_task.source, video_task.task, video_task.chunk_size
    frames = source.spec.frames
    for number in range((frames - 1) // size + 1):
        members = zip_members(chunk_bytes(task, number, "original"))
        expected = list(range(number * size, min((number + 1) * size, frames)))
        assert [name for name, _ in members] == [f"{n:06d}.png" for n in expected]
        for (name, data), frame in zip(members, expected, strict=True):
            assert_exact(data, source.reference[frame], f"{source.spec.name} chunk {name}")


def test_compressed_chunks_are_mp4_videos(video_task: VideoTask) -> None:
    source, task, size = video_task.source, video_task.task, video_task.chunk_size
    frames = source.spec.frames
    width, height = source.spec.size
    for number in range((frames - 1) // size + 1):
        data = chunk_bytes(task, number, "compressed")
        assert data[4:8] == b"ftyp", data[:16]
        decoded = decode_all(data)
        expected = list(range(number * size, min((number + 1) * size, frames)))
        assert len(decoded) == len(expected), (source.spec.name, number)
        assert {frame.shape for frame in decoded} == {(height, width, 3)}
        assert [read_number(frame) for frame in decoded] == expected


def test_job_frames_and_chunks_agree_with_the_task(client: Client, video_task: VideoTask) -> None:
    source, task, size = video_task.source, video_task.task, video_task.chunk_size
    for job in jobs_in_order(task):
        meta = job.get_meta()
        assert (meta.start_frame, meta.stop_frame) == (job.start_frame, job.stop_frame)
        assert meta.size == job.stop_frame - job.start_frame + 1
        middle = (job.start_frame + job.stop_frame) // 2
        for number in (job.start_frame, middle, job.stop_frame):
            assert_exact(original(job, number), source.reference[number], f"job {job.id} {number}")
            assert original(job, number) == original(task, number)
        _, response = client.api_client.jobs_api.retrieve_data(
            job.id, type="chunk", index=0, quality="compressed", _parse_response=False
        )
        with response:
            decoded = decode_all(response.read())
        expected = list(range(job.start_frame, min(job.start_frame + size, job.stop_frame + 1)))
        assert [read_number(frame) for frame in decoded] == expected


# ------------------------------------------------------------------------------------------
# Frame selection: start_frame, stop_frame, frame_step


@pytest.mark.parametrize(
    ("name", "params", "numbers"),
    [
        ("h264.mp4", {"frame_step": 3}, range(0, 45, 3)),
        ("mpeg4-bframes.avi", {"frame_step": 4}, range(0, 50, 4)),
        ("h264.mp4", {"start_frame": 5, "stop_frame": 24}, range(5, 25)),
        ("h264.mkv", {"start_frame": 4, "stop_frame": 38, "frame_step": 3}, range(4, 39, 3)),
        ("vp9.webm", {"start_frame": 17, "stop_frame": 1000}, range(17, 30)),
    ],
    ids=["step", "step-bframes", "start-stop", "start-stop-step", "stop-past-end"],
)
def test_frame_selection(
    client: Client,
    sources: dict[str, Source],
    name: str,
    params: dict[str, int],
    numbers: range,
) -> None:
    source = sources[name]
    chunk = 4
    task = create_task(
        client, [source.path], name=f"selection {name}", data_params={**params, "chunk_size": chunk}
    )
    wanted = list(numbers)
    assert task.size == len(wanted)
    meta = task.get_meta()
    assert meta.size == len(wanted)
    assert len(meta.frames) == len(wanted)
    assert meta.start_frame == wanted[0]
    assert meta.stop_frame == wanted[-1]
    step = params.get("frame_step", 1)
    assert meta.frame_filter == (f"step={step}" if step > 1 else "")

    picks = sorted({0, 1, len(wanted) // 2, len(wanted) - 1})
    for number in picks:
        assert_exact(original(task, number), source.reference[wanted[number]], f"{name} {number}")
        compressed = decode(task.get_frame(number, quality="compressed").read())
        assert read_number(compressed) == wanted[number]
    last_chunk = (len(wanted) - 1) // chunk
    for number in {0, last_chunk}:
        members = zip_members(chunk_bytes(task, number, "original"))
        covered = wanted[number * chunk : (number + 1) * chunk]
        assert len(members) == len(covered)
        for (member, data), frame in zip(members, covered, strict=True):
            assert_exact(data, source.reference[frame], f"{name} chunk member {member}")
        decoded = decode_all(chunk_bytes(task, number, "compressed"))
        assert [read_number(frame) for frame in decoded] == covered


def test_start_frame_past_the_end_is_refused(client: Client, sources: dict[str, Source]) -> None:
    source = sources["vp9.webm"]
    task = client.tasks.create({"name": "start too late", "labels": DEFAULT_LABELS})
    with pytest.raises(ApiException) as raised:
        task.upload_data([source.path], params={"start_frame": source.spec.frames})
    assert raised.value.status == 400
    body = json.loads(raised.value.body)
    assert "start_frame" in body["detail"], body
    task.fetch()
    assert task.size == 0
    assert task.get_jobs() == []
