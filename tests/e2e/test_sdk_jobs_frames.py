"""Flows 3 and 4: jobs, frames, chunks, previews and data metadata through the real cvat-sdk."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from cvat_sdk import Client
from cvat_sdk.core.proxies.jobs import Job
from cvat_sdk.core.proxies.tasks import Task
from cvat_sdk.datasets import TaskDataset
from cvat_sdk.exceptions import ApiException
from PIL import Image, ImageOps

from conftest import Server

from .helpers import (
    as_datetime,
    assert_jpeg,
    assert_same_pixels,
    create_task,
    decode,
    jobs_in_order,
    noise_images,
    original_frame,
    pixels,
    save_image,
    sdk_client,
    user_id,
    zip_members,
)

FRAMES = 7
CHUNK = 3
SIZE = (32, 24)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("frames")
    return noise_images(folder, [f"frame_{i}.png" for i in range(FRAMES)], size=SIZE, seed=3)


@pytest.fixture(scope="module")
def task(client: Client, media: list[Path]) -> Task:
    """7 frames, chunks of 3, jobs 0-3 and 4-6. Read-only: tests here do not change it."""
    return create_task(
        client, media, name="frames", segment_size=4, data_params={"chunk_size": CHUNK}
    )


@pytest.fixture
def fresh_task(client: Client, media: list[Path]) -> Task:
    """The same media in a task of its own, for tests that change metadata."""
    return create_task(client, media, name="frames (changed)", segment_size=4)


def _chunk(task: Task, number: int, quality: str) -> list[tuple[str, bytes]]:
    buffer = io.BytesIO()
    task.download_chunk(number, buffer, quality=quality)
    return zip_members(buffer.getvalue())


def _job_chunk(client: Client, job: Job, index: int, quality: str) -> list[tuple[str, bytes]]:
    _, response = client.api_client.jobs_api.retrieve_data(
        job.id, type="chunk", index=index, quality=quality, _parse_response=False
    )
    with response:
        return zip_members(response.read())


# ------------------------------------------------------------------------------------------
# Frames and chunks


def test_task_original_frames_are_the_uploaded_files(task: Task, media: list[Path]) -> None:
    for number, path in enumerate(media):
        data = original_frame(task, number)
        assert data == path.read_bytes()
        assert_same_pixels(data, path)


def test_compressed_frames_are_jpegs_of_the_same_size(task: Task) -> None:
    for number in range(FRAMES):
        assert_jpeg(task.get_frame(number, quality="compressed").read(), SIZE)


def test_frame_outside_the_task_is_a_400(task: Task) -> None:
    with pytest.raises(ApiException) as caught:
        task.get_frame(FRAMES, quality="original")
    assert caught.value.status == 400


def test_job_frames(task: Task, media: list[Path]) -> None:
    jobs = jobs_in_order(task)
    assert [(j.start_frame, j.stop_frame) for j in jobs] == [(0, 3), (4, 6)]
    for job in jobs:
        for number in range(job.start_frame, job.stop_frame + 1):
            data = job.get_frame(number, quality="original").read()
            assert data == media[number].read_bytes()
            assert_jpeg(job.get_frame(number, quality="compressed").read(), SIZE)
    # A frame of the other job is not part of this one.
    with pytest.raises(ApiException) as caught:
        jobs[1].get_frame(0, quality="original")
    assert caught.value.status == 400


def test_download_frames_writes_pixel_identical_images(
    task: Task, media: list[Path], tmp_path: Path
) -> None:
    task.download_frames(range(FRAMES), outdir=tmp_path, quality="original")
    for number, path in enumerate(media):
        written = tmp_path / f"frame_{number:06d}.png"
        assert written.is_file()
        assert_same_pixels(written, path)


def test_job_download_frames(task: Task, media: list[Path], tmp_path: Path) -> None:
    job = jobs_in_order(task)[1]
    job.download_frames([4, 6], outdir=tmp_path)
    assert_same_pixels(tmp_path / "frame_000004.png", media[4])
    assert_same_pixels(tmp_path / "frame_000006.png", media[6])


def test_original_chunks_hold_the_files_in_frame_order(task: Task, media: list[Path]) -> None:
    assert task.data_chunk_size == CHUNK
    for number in range((FRAMES + CHUNK - 1) // CHUNK):
        members = _chunk(task, number, "original")
        first = number * CHUNK
        expected = media[first : first + CHUNK]
        assert len(members) == len(expected)
        for i, (_, data) in enumerate(members):
            assert data == media[number * CHUNK + i].read_bytes()


def test_compressed_chunks_hold_jpegs(task: Task, media: list[Path]) -> None:
    for number in range((FRAMES + CHUNK - 1) // CHUNK):
        members = _chunk(task, number, "compressed")
        assert len(members) == len(media[number * CHUNK : (number + 1) * CHUNK])
        for _, data in members:
            assert_jpeg(data, SIZE)


def test_chunk_past_the_end_is_rejected(task: Task) -> None:
    with pytest.raises(ApiException) as caught:
        _chunk(task, 3, "original")
    assert 400 <= caught.value.status < 500


def test_job_chunks_by_index(client: Client, task: Task, media: list[Path]) -> None:
    second = jobs_in_order(task)[1]  # frames 4-6
    members = _job_chunk(client, second, 0, "original")
    assert [data for _, data in members] == [media[i].read_bytes() for i in (4, 5, 6)]
    compressed = _job_chunk(client, second, 0, "compressed")
    assert len(compressed) == 3
    for _, data in compressed:
        assert_jpeg(data, SIZE)
    first = jobs_in_order(task)[0]  # frames 0-3: chunks [0, 1, 2] and [3]
    assert [d for _, d in _job_chunk(client, first, 1, "original")] == [media[3].read_bytes()]


def test_job_chunk_needs_exactly_one_of_number_and_index(http: httpx.Client, task: Task) -> None:
    job = jobs_in_order(task)[0]
    both = http.get(
        f"/api/jobs/{job.id}/data",
        params={"type": "chunk", "number": 0, "index": 0, "quality": "original"},
    )
    assert both.status_code == 400
    neither = http.get(f"/api/jobs/{job.id}/data", params={"type": "chunk"})
    assert neither.status_code == 400


def test_previews(task: Task) -> None:
    preview = decode(task.get_preview().read())
    assert preview.format == "JPEG"
    assert preview.width <= SIZE[0] and preview.height <= SIZE[1]
    for job in task.get_jobs():
        assert decode(job.get_preview().read()).format == "JPEG"


def test_exif_rotated_jpeg(client: Client, tmp_path: Path) -> None:
    # Four flat quadrants: a wrong rotation direction or a missing rotation is visible.
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:10, :20] = (230, 30, 30)
    stored[:10, 20:] = (30, 230, 30)
    stored[10:, :20] = (30, 30, 230)
    stored[10:, 20:] = (240, 240, 240)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = save_image(tmp_path / "rotated.jpg", stored, exif=exif.tobytes())

    task = create_task(client, [path], name="exif")

    meta = task.get_meta()
    assert (meta.frames[0].width, meta.frames[0].height) == (20, 40)
    assert original_frame(task, 0) == path.read_bytes()
    compressed = task.get_frame(0, quality="compressed").read()
    assert_jpeg(compressed, (20, 40))
    with Image.open(path) as source:
        upright = pixels(ImageOps.exif_transpose(source))
    difference = np.abs(pixels(compressed).astype(int) - upright.astype(int))
    assert difference.mean() < 12
    preview = decode(task.get_preview().read())
    assert preview.width < preview.height


# ------------------------------------------------------------------------------------------
# Metadata


def test_meta_lists_frames(task: Task, media: list[Path]) -> None:
    meta = task.get_meta()
    assert meta.size == FRAMES
    assert meta.chunk_size == CHUNK
    assert meta.start_frame == 0
    assert meta.stop_frame == FRAMES - 1
    assert meta.frame_filter == ""
    assert meta.deleted_frames == []
    assert [f.name for f in meta.frames] == [p.name for p in media]
    assert all((f.width, f.height) == SIZE for f in meta.frames)
    assert all(f.related_files == 0 for f in meta.frames)
    as_datetime(meta.chunks_updated_date)


def test_remove_frames_by_ids(fresh_task: Task) -> None:
    before = as_datetime(fresh_task.updated_date)

    fresh_task.remove_frames_by_ids([1, 3])

    assert fresh_task.get_meta().deleted_frames == [1, 3]
    fresh_task.fetch()
    middle = as_datetime(fresh_task.updated_date)
    assert middle > before
    # The list replaces the previous one; an empty list restores every frame.
    fresh_task.remove_frames_by_ids([])
    assert fresh_task.get_meta().deleted_frames == []
    fresh_task.fetch()
    assert as_datetime(fresh_task.updated_date) > middle


def test_deleted_frame_outside_the_task_is_a_400(fresh_task: Task) -> None:
    with pytest.raises(ApiException) as caught:
        fresh_task.remove_frames_by_ids([FRAMES])
    assert caught.value.status == 400
    assert fresh_task.get_meta().deleted_frames == []


def test_job_meta_is_restricted_to_the_job(task: Task, media: list[Path]) -> None:
    first, second = jobs_in_order(task)
    meta = second.get_meta()
    assert meta.size == 3
    assert (meta.start_frame, meta.stop_frame) == (4, 6)
    assert [f.name for f in meta.frames] == [p.name for p in media[4:]]
    assert meta.chunk_size == CHUNK
    assert [f.name for f in first.get_meta().frames] == [p.name for p in media[:4]]


def test_job_deleted_frames_only_touch_the_job_range(fresh_task: Task) -> None:
    first, second = jobs_in_order(fresh_task)
    fresh_task.remove_frames_by_ids([1, 5])
    before = as_datetime(fresh_task.updated_date)
    fresh_task.fetch()
    assert as_datetime(fresh_task.updated_date) > before
    before = as_datetime(fresh_task.updated_date)

    second.remove_frames_by_ids([6])

    assert second.get_meta().deleted_frames == [6]
    assert first.get_meta().deleted_frames == [1]
    assert fresh_task.get_meta().deleted_frames == [1, 6]
    fresh_task.fetch()
    assert as_datetime(fresh_task.updated_date) > before
    with pytest.raises(ApiException) as caught:
        second.remove_frames_by_ids([2])
    assert caught.value.status == 400
    assert fresh_task.get_meta().deleted_frames == [1, 6]


# ------------------------------------------------------------------------------------------
# Jobs


@pytest.fixture
def three_jobs(client: Client, tmp_path: Path) -> Task:
    files = noise_images(tmp_path, [f"j{i}.png" for i in range(6)])
    return create_task(client, files, name="three jobs", segment_size=2)


def test_new_jobs(client: Client, three_jobs: Task) -> None:
    jobs = jobs_in_order(three_jobs)
    assert [(j.start_frame, j.stop_frame, j.frame_count) for j in jobs] == [
        (0, 1, 2), (2, 3, 2), (4, 5, 2),
    ]  # fmt: skip
    for job in jobs:
        assert job.task_id == three_jobs.id
        assert job.stage == "annotation"
        assert job.state == "new"
        assert job.status == "annotation"
        assert job.type == "annotation"
        assert job.assignee is None
        again = client.jobs.retrieve(job.id)
        assert (again.start_frame, again.stop_frame) == (job.start_frame, job.stop_frame)
        assert again.frame_count == 2
    listed = client.jobs.list(task_id=three_jobs.id)
    assert sorted(j.id for j in listed) == sorted(j.id for j in jobs)


def test_update_job_and_filter_the_list(client: Client, server: Server, three_jobs: Task) -> None:
    username, _ = server.create_user()
    uid = user_id(client, username)
    first, second, third = jobs_in_order(three_jobs)
    before = as_datetime(three_jobs.updated_date)

    first.update({"stage": "validation", "state": "in progress", "assignee": uid})

    assert first.stage == "validation"
    assert first.state == "in progress"
    assert first.status == "validation"
    assert first.assignee is not None and first.assignee.username == username
    fetched = client.jobs.retrieve(first.id)
    assert (fetched.stage, fetched.state, fetched.assignee.id) == ("validation", "in progress", uid)
    three_jobs.fetch()
    assert as_datetime(three_jobs.updated_date) > before
    assert three_jobs.jobs.validation == 1

    third.update({"stage": "acceptance", "state": "completed"})
    assert third.status == "completed"
    three_jobs.fetch()
    assert three_jobs.jobs.completed == 1

    def ids(**filters: object) -> list[int]:
        return sorted(j.id for j in client.jobs.list(task_id=three_jobs.id, **filters))

    assert ids(stage="validation") == [first.id]
    assert ids(stage="annotation") == [second.id]
    assert ids(state="in progress") == [first.id]
    assert ids(state="new") == [second.id]
    assert ids(assignee=username) == [first.id]
    assert ids(filter=json.dumps({"==": [{"var": "stage"}, "acceptance"]})) == [third.id]
    assert ids(filter={"!=": [{"var": "state"}, "new"]}) == [first.id, third.id]
    assert ids(start_frame__gte=2) == [second.id, third.id]
    assert ids(type="annotation") == sorted([first.id, second.id, third.id])
    descending = [j.id for j in client.jobs.list(task_id=three_jobs.id, sort="-id")]
    assert descending == sorted(descending, reverse=True)
    by_start = [j.start_frame for j in client.jobs.list(task_id=three_jobs.id, sort="start_frame")]
    assert by_start == [0, 2, 4]

    first.update({"assignee": None})
    assert first.assignee is None
    assert client.jobs.retrieve(first.id).assignee is None


def test_job_enum_values_are_checked(http: httpx.Client, three_jobs: Task) -> None:
    job_id = jobs_in_order(three_jobs)[0].id
    for body in ({"stage": "bogus"}, {"state": "finished-ish"}):
        response = http.patch(f"/api/jobs/{job_id}", json=body)
        assert response.status_code == 400, body
    unchanged = http.get(f"/api/jobs/{job_id}").json()
    assert (unchanged["stage"], unchanged["state"]) == ("annotation", "new")
    listed = http.get("/api/jobs", params={"task_id": three_jobs.id, "dimension": "3d"})
    assert listed.status_code == 200
    assert listed.json()["count"] == 0


def test_unknown_job_is_a_404(client: Client) -> None:
    with pytest.raises(ApiException) as caught:
        client.jobs.retrieve(10**8)
    assert caught.value.status == 404


def test_job_meta_of_a_stepped_task(client: Client, tmp_path: Path) -> None:
    files = noise_images(tmp_path, [f"s{i:02d}.png" for i in range(10)])

    stepped = create_task(
        client, files, name="stepped", segment_size=2,
        data_params={"start_frame": 1, "frame_step": 2},
    )  # fmt: skip

    assert stepped.size == 5  # data frames 1, 3, 5, 7, 9
    jobs = jobs_in_order(stepped)
    assert [(j.start_frame, j.stop_frame) for j in jobs] == [(0, 1), (2, 3), (4, 4)]
    meta = jobs[1].get_meta()
    assert meta.size == 2
    # Job meta start/stop are data frame numbers, like the task's (CVAT semantics).
    assert (meta.start_frame, meta.stop_frame) == (5, 7)
    assert meta.frame_filter == "step=2"
    assert [f.name for f in meta.frames] == ["s05.png", "s07.png"]
    assert jobs[1].get_frame(3, quality="original").read() == files[7].read_bytes()


def test_parallel_chunk_downloads(client: Client, media: list[Path]) -> None:
    """The SDK's dataset layer fetches chunks with several threads on one session."""
    cold = create_task(client, media, name="parallel chunks", data_params={"chunk_size": 2})
    requests = [(number, quality) for number in range(4) for quality in ("original", "compressed")]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda r: _chunk(cold, *r), requests * 2))

    for (number, quality), members in zip(requests * 2, results, strict=True):
        expected = media[number * 2 : number * 2 + 2]
        assert len(members) == len(expected)
        if quality == "original":
            assert [data for _, data in members] == [p.read_bytes() for p in expected]
        else:
            for _, data in members:
                assert_jpeg(data, SIZE)


def test_task_dataset_adapter_reads_chunks_and_sees_changes(
    client: Client, media: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client.config, "cache_dir", tmp_path / "cache")
    source = create_task(client, media, name="dataset adapter", data_params={"chunk_size": 3})

    dataset = TaskDataset(client, source.id, load_annotations=False)

    assert [s.frame_index for s in dataset.samples] == list(range(FRAMES))
    assert [s.frame_name for s in dataset.samples] == [p.name for p in media]
    for sample, path in zip(dataset.samples, media, strict=True):
        assert_same_pixels(sample.media.load_image(), path)

    source.remove_frames_by_ids([2, 5])
    # The cache is keyed on updated_date: the change must be visible to a new dataset.
    fresh = TaskDataset(client, source.id, load_annotations=False)
    assert [s.frame_index for s in fresh.samples] == [0, 1, 3, 4, 6]


def test_project_preview(client: Client, http: httpx.Client, media: list[Path]) -> None:
    project = client.projects.create({"name": "preview project", "labels": [{"name": "a"}]})
    assert http.get(f"/api/projects/{project.id}/preview").status_code == 404
    create_task(client, media[:2], name="preview task", project_id=project.id)
    preview = decode(project.get_preview().read())
    assert preview.format == "JPEG"


def test_data_routes_without_redirects(http: httpx.Client, task: Task) -> None:
    job = jobs_in_order(task)[0]
    frame = {"type": "frame", "number": 0, "quality": "original"}
    for path, params in [
        (f"/api/tasks/{task.id}/data/meta", {}),
        (f"/api/tasks/{task.id}/data/meta/", {}),
        (f"/api/tasks/{task.id}/data/", frame),
        (f"/api/tasks/{task.id}/data", frame),
        (f"/api/tasks/{task.id}/preview", {}),
        (f"/api/tasks/{task.id}/preview/", {}),
        (f"/api/jobs/{job.id}/data", frame),
        (f"/api/jobs/{job.id}/data/", frame),
        (f"/api/jobs/{job.id}/data/meta", {}),
        (f"/api/jobs/{job.id}/data/meta/", {}),
        (f"/api/jobs/{job.id}/preview", {}),
    ]:
        response = http.get(path, params=params, follow_redirects=False)
        assert response.status_code == 200, path


def test_task_without_data(client: Client, http: httpx.Client) -> None:
    empty = client.tasks.create({"name": "no data yet", "labels": [{"name": "a"}]})
    assert empty.size == 0
    assert empty.get_jobs() == []
    assert http.get(f"/api/tasks/{empty.id}/preview").status_code == 404
    frame = http.get(f"/api/tasks/{empty.id}/data/", params={"type": "frame", "number": 0})
    assert 400 <= frame.status_code < 500


def test_task_status_follows_its_jobs(client: Client, three_jobs: Task) -> None:
    """CVAT: a task is "annotation" while any job is, else "validation" while any job is,
    and "completed" once every job is (stage acceptance, state completed)."""
    first, second, third = jobs_in_order(three_jobs)
    assert three_jobs.status == "annotation"

    for job in (first, second, third):
        job.update({"stage": "validation"})
    three_jobs.fetch()
    assert three_jobs.status == "validation"

    for job in (first, second, third):
        job.update({"stage": "acceptance", "state": "completed"})
    three_jobs.fetch()
    assert three_jobs.status == "completed"
    listed = client.tasks.list(status="completed", name="three jobs")
    assert three_jobs.id in [t.id for t in listed]

    second.update({"stage": "annotation", "state": "in progress"})
    three_jobs.fetch()
    assert three_jobs.status == "annotation"


def test_job_previews_show_the_job_start(task: Task, media: list[Path]) -> None:
    for job in jobs_in_order(task):  # starting at frames 0 and 4
        preview = pixels(job.get_preview().read()).astype(int)
        distances = [float(np.abs(preview - pixels(p).astype(int)).mean()) for p in media]
        assert distances.index(min(distances)) == job.start_frame


def test_assigned_annotator_works_on_their_job(
    client: Client, server: Server, three_jobs: Task, media: list[Path]
) -> None:
    username, password = server.create_user()
    first, second, _ = jobs_in_order(three_jobs)
    second.update({"assignee": user_id(client, username)})

    with sdk_client(server, (username, password)) as annotator:
        [job] = annotator.jobs.list()
        assert job.id == second.id
        frame = job.get_frame(2, quality="original").read()
        assert frame == client.jobs.retrieve(second.id).get_frame(2, quality="original").read()
        assert [f.name for f in job.get_meta().frames] == ["j2.png", "j3.png"]
        assert sorted(label.name for label in job.get_labels()) == ["car", "person"]
        job.update({"state": "in progress"})
        assert client.jobs.retrieve(second.id).state == "in progress"
        with pytest.raises(ApiException) as caught:
            annotator.jobs.retrieve(first.id)
        assert caught.value.status == 404
