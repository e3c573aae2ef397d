"""Flow 2: creating tasks from local files with ``client.tasks.create_from_data``."""

from __future__ import annotations

import io
import itertools
import tarfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from cvat_sdk import Client
from cvat_sdk.exceptions import ApiException
from PIL import Image

from conftest import Server

from .helpers import (
    MIME_BY_SUFFIX,
    assert_jpeg,
    assert_same_pixels,
    create_task,
    frame_names,
    jobs_in_order,
    noise,
    noise_images,
    original_frame,
    save_image,
    sdk_client,
    zip_members,
)


def _recording_polls(client: Client, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the status the client sees at each ``GET /api/requests/{rq}`` poll."""
    api = client.api_client.requests_api
    real = api.retrieve
    seen: list[str] = []

    def retrieve(*args: Any, **kwargs: Any) -> Any:
        request, response = real(*args, **kwargs)
        seen.append(str(request.status.value))
        return request, response

    monkeypatch.setattr(api, "retrieve", retrieve)
    return seen


def test_five_pngs_task_is_complete_when_create_returns(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"img_{i}.png" for i in range(5)]
    files = noise_images(tmp_path, names)
    polls = _recording_polls(client, monkeypatch)

    started = time.monotonic()
    task = create_task(client, files, name="five pngs", status_check_period=5)
    elapsed = time.monotonic() - started

    # The data request is finished at the very first poll, so the client never sleeps 5 s.
    assert polls == ["finished"]
    assert elapsed < 4, f"create_from_data took {elapsed:.1f}s"
    jobs = task.get_jobs()  # no further polling
    assert len(jobs) == 1
    assert (jobs[0].start_frame, jobs[0].stop_frame) == (0, 4)
    assert task.size == 5
    assert task.jobs.count == 1
    assert task.mode == "annotation"
    assert task.data_original_chunk_type == "imageset"
    assert task.data_compressed_chunk_type == "imageset"
    assert task.data_chunk_size is not None and task.data_chunk_size > 0
    assert task.image_quality == 70
    assert frame_names(task) == names
    for number, path in enumerate(files):
        assert original_frame(task, number) == path.read_bytes()


def test_mixed_formats_are_served_as_uploaded(
    client: Client, http: httpx.Client, tmp_path: Path
) -> None:
    shapes = {"a.jpg": (32, 24), "b.bmp": (30, 20), "c.tif": (16, 40), "d.webp": (24, 24),
              "e.png": (40, 10), "f.jpeg": (20, 30)}  # fmt: skip
    files = [
        save_image(tmp_path / name, noise(w, h, seed=i))
        for i, (name, (w, h)) in enumerate(shapes.items())
    ]
    task = create_task(client, files, name="mixed formats")

    meta = task.get_meta()
    assert [f.name for f in meta.frames] == list(shapes)
    assert [(f.width, f.height) for f in meta.frames] == list(shapes.values())
    for number, path in enumerate(files):
        response = http.get(
            f"/api/tasks/{task.id}/data/",
            params={"type": "frame", "number": number, "quality": "original"},
        )
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0] == MIME_BY_SUFFIX[path.suffix]
        assert response.content == path.read_bytes()
        assert_same_pixels(response.content, path)
        compressed = task.get_frame(number, quality="compressed").read()
        assert_jpeg(compressed, shapes[path.name])


def _zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        folders = sorted({name.rsplit("/", 1)[0] + "/" for name in members if "/" in name})
        for folder in folders:
            archive.writestr(folder, b"")
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _member_images(tmp_path: Path, names: list[str]) -> dict[str, bytes]:
    made = noise_images(tmp_path / "src", [f"m{i}.png" for i in range(len(names))], seed=7)
    return {name: path.read_bytes() for name, path in zip(names, made, strict=True)}


def test_zip_with_nested_folders(client: Client, tmp_path: Path) -> None:
    members = _member_images(tmp_path, ["top.png", "a/img0.png", "a/b/img1.png", "z/deep/er/x.png"])
    archive = tmp_path / "media.zip"
    archive.write_bytes(_zip_of(members))

    task = create_task(client, [archive], name="nested zip")

    expected = sorted(members)
    assert frame_names(task) == expected
    assert task.size == len(members)
    for number, name in enumerate(expected):
        assert original_frame(task, number) == members[name]


@pytest.mark.parametrize(("suffix", "mode"), [(".tar", "w"), (".tar.gz", "w:gz")])
def test_tar_archives(client: Client, tmp_path: Path, suffix: str, mode: str) -> None:
    members = _member_images(tmp_path, ["one.png", "dir/two.png", "dir/sub/three.png"])
    archive = tmp_path / f"media{suffix}"
    with tarfile.open(archive, mode) as tar:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    task = create_task(client, [archive], name=f"tar {suffix}")

    expected = sorted(members)
    assert frame_names(task) == expected
    for number, name in enumerate(expected):
        assert original_frame(task, number) == members[name]


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("lexicographical", ["img_1.png", "img_10.png", "img_2.png"]),
        ("natural", ["img_1.png", "img_2.png", "img_10.png"]),
    ],
)
def test_sorting_lexicographical_and_natural(
    client: Client, tmp_path: Path, method: str, expected: list[str]
) -> None:
    files = noise_images(tmp_path, ["img_2.png", "img_10.png", "img_1.png"])
    by_name = {path.name: path for path in files}

    task = create_task(client, files, data_params={"sorting_method": method})

    assert frame_names(task) == expected
    for number, name in enumerate(expected):
        assert original_frame(task, number) == by_name[name].read_bytes()


def test_sorting_predefined_follows_upload_file_order(client: Client, tmp_path: Path) -> None:
    files = noise_images(tmp_path, ["b.png", "c.png", "a.png", "d.png"])
    order = [files[1], files[3], files[0], files[2]]  # c, d, b, a

    # With "predefined" the SDK sends upload_file_order = the names in the order given.
    task = create_task(client, order, data_params={"sorting_method": "predefined"})

    assert frame_names(task) == ["c.png", "d.png", "b.png", "a.png"]
    for number, path in enumerate(order):
        assert original_frame(task, number) == path.read_bytes()


def test_sorting_random_is_a_permutation(client: Client, tmp_path: Path) -> None:
    names = [f"r{i:02d}.png" for i in range(10)]
    files = noise_images(tmp_path, names)
    by_name = {path.name: path for path in files}

    task = create_task(client, files, data_params={"sorting_method": "random"})

    got = frame_names(task)
    assert sorted(got) == names
    assert got != names  # 10! orders: a sorted outcome would mean no shuffling happened
    for number, name in enumerate(got):
        assert original_frame(task, number) == by_name[name].read_bytes()


@pytest.mark.parametrize(
    ("params", "chosen", "frame_filter"),
    [
        ({"start_frame": 2, "stop_frame": 8, "frame_step": 3}, [2, 5, 8], "step=3"),
        ({"start_frame": 3, "stop_frame": 5}, [3, 4, 5], ""),
        ({"frame_step": 4}, [0, 4, 8], "step=4"),
        ({"stop_frame": 99, "frame_step": 5}, [0, 5], "step=5"),
        ({"start_frame": 9}, [9], ""),
    ],
)
def test_start_stop_and_step_select_files(
    client: Client, tmp_path: Path, params: dict[str, int], chosen: list[int], frame_filter: str
) -> None:
    files = noise_images(tmp_path, [f"f{i:02d}.png" for i in range(10)])

    task = create_task(client, files, data_params=params)

    assert task.size == len(chosen)
    meta = task.get_meta()
    assert meta.size == len(chosen)
    assert meta.start_frame == chosen[0]
    assert meta.stop_frame == chosen[-1]
    assert meta.frame_filter == frame_filter
    assert [f.name for f in meta.frames] == [files[i].name for i in chosen]
    for number, source in enumerate(chosen):
        assert original_frame(task, number) == files[source].read_bytes()
    jobs = jobs_in_order(task)
    assert (jobs[0].start_frame, jobs[-1].stop_frame) == (0, len(chosen) - 1)


@pytest.mark.parametrize(
    ("size", "segment_size", "overlap", "ranges"),
    [
        (10, 4, 1, [(0, 3), (3, 6), (6, 9)]),
        (10, 4, 2, [(0, 3), (2, 5), (4, 7), (6, 9)]),
        (10, 4, 0, [(0, 3), (4, 7), (8, 9)]),
        (10, 4, None, [(0, 3), (4, 7), (8, 9)]),
        (6, None, None, [(0, 5)]),
        (6, 6, None, [(0, 5)]),
    ],
)
def test_segment_size_and_overlap(
    client: Client,
    tmp_path: Path,
    size: int,
    segment_size: int | None,
    overlap: int | None,
    ranges: list[tuple[int, int]],
) -> None:
    files = noise_images(tmp_path, [f"s{i:02d}.png" for i in range(size)])
    spec: dict[str, Any] = {}
    if segment_size is not None:
        spec["segment_size"] = segment_size
    if overlap is not None:
        spec["overlap"] = overlap

    task = create_task(client, files, name="segments", **spec)

    jobs = jobs_in_order(task)
    assert [(job.start_frame, job.stop_frame) for job in jobs] == ranges
    assert task.jobs.count == len(ranges)
    assert [job.frame_count for job in jobs] == [b - a + 1 for a, b in ranges]
    covered = {frame for a, b in ranges for frame in range(a, b + 1)}
    assert covered == set(range(size))
    if overlap is not None:
        assert task.overlap == overlap
    for previous, following in itertools.pairwise(jobs):
        assert previous.stop_frame - following.start_frame + 1 == (overlap or 0)


def test_chunk_size_given(client: Client, tmp_path: Path) -> None:
    files = noise_images(tmp_path, [f"c{i}.png" for i in range(5)])

    task = create_task(client, files, data_params={"chunk_size": 2})

    assert task.data_chunk_size == 2
    assert task.get_meta().chunk_size == 2
    for chunk, count in enumerate([2, 2, 1]):
        buffer = io.BytesIO()
        task.download_chunk(chunk, buffer, quality="original")
        members = zip_members(buffer.getvalue())
        assert [data for _, data in members] == [
            files[chunk * 2 + i].read_bytes() for i in range(count)
        ]


def test_default_chunk_size_for_small_images(client: Client, tmp_path: Path) -> None:
    files = noise_images(tmp_path, ["x.png", "y.png"])

    task = create_task(client, files)

    assert task.data_chunk_size == 72
    assert task.get_meta().chunk_size == 72


def test_default_chunk_size_for_full_hd(client: Client, tmp_path: Path) -> None:
    # A smooth picture keeps the files small; only the resolution matters here.
    ramp = np.linspace(0, 255, 1920, dtype=np.uint8)
    files = []
    for i in range(2):
        array = np.empty((1080, 1920, 3), dtype=np.uint8)
        array[:, :, 0] = ramp
        array[:, :, 1] = np.uint8(40 * i)
        array[:, :, 2] = ramp[::-1]
        files.append(save_image(tmp_path / f"hd{i}.png", array))

    task = create_task(client, files)

    assert task.data_chunk_size == 36
    meta = task.get_meta()
    assert meta.chunk_size == 36
    assert [(f.width, f.height) for f in meta.frames] == [(1920, 1080)] * 2


def test_image_quality_controls_compression(client: Client, tmp_path: Path) -> None:
    [source] = noise_images(tmp_path, ["q.png"], size=(96, 64))
    sizes: dict[int, int] = {}
    for quality in (90, 10):
        task = create_task(client, [source], data_params={"image_quality": quality})
        assert task.image_quality == quality
        assert task.get_meta().image_quality == quality
        compressed = task.get_frame(0, quality="compressed").read()
        assert_jpeg(compressed, (96, 64))
        # Without a quality the server answers the compressed frame (spec 5.1).
        assert task.get_frame(0).read() == compressed
        sizes[quality] = len(compressed)
        assert original_frame(task, 0) == source.read_bytes()
    assert sizes[10] < sizes[90]


def test_bad_file_is_rejected_and_task_stays_empty(client: Client, tmp_path: Path) -> None:
    good = noise_images(tmp_path, ["good.png"])
    broken = tmp_path / "broken.png"
    broken.write_bytes(good[0].read_bytes()[:60])  # a truncated PNG
    task = client.tasks.create({"name": "broken upload", "labels": [{"name": "car"}]})

    with pytest.raises(ApiException) as caught:
        task.upload_data([*good, broken], status_check_period=5)
    assert caught.value.status == 400
    assert b"broken.png" in (caught.value.body or b"")

    task.fetch()
    assert task.size == 0
    assert task.get_jobs() == []
    # The same task accepts a good upload afterwards.
    task.upload_data(good, status_check_period=5)
    assert task.size == 1
    assert frame_names(task) == ["good.png"]
    assert len(task.get_jobs()) == 1


def _mode_images(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(5)
    gray = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    deep = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    made = {
        "gray.png": Image.fromarray(gray, mode="L"),
        "palette.png": Image.fromarray(noise(30, 20, seed=1)).quantize(colors=16),
        "alpha.png": Image.fromarray(rgba, mode="RGBA"),
        "deep.png": Image.fromarray(deep),
        "bilevel.png": Image.fromarray(gray > 127),
        "cmyk.jpg": Image.fromarray(noise(30, 20, seed=2)).convert("CMYK"),
        "gray.tif": Image.fromarray(gray, mode="L"),
    }
    paths = {}
    for name, image in made.items():
        paths[name] = folder / name
        image.save(paths[name])
    return paths


def test_unusual_pixel_modes(client: Client, tmp_path: Path) -> None:
    paths = _mode_images(tmp_path)

    task = create_task(client, list(paths.values()), name="pixel modes")

    names = frame_names(task)
    assert names == sorted(paths)
    for number, name in enumerate(names):
        assert original_frame(task, number) == paths[name].read_bytes()
        assert_jpeg(task.get_frame(number, quality="compressed").read(), (30, 20))
    buffer = io.BytesIO()
    task.download_chunk(0, buffer, quality="compressed")
    members = zip_members(buffer.getvalue())
    assert len(members) == len(paths)
    for _, data in members:
        assert_jpeg(data, (30, 20))


def test_unicode_and_spaced_file_names(client: Client, tmp_path: Path) -> None:
    names = ["café 1.png", "snow ☃.png", "plain.png"]
    files = noise_images(tmp_path, names)

    task = create_task(client, files, name="unicode names")

    assert frame_names(task) == sorted(names)
    by_name = {path.name: path for path in files}
    for number, name in enumerate(sorted(names)):
        assert original_frame(task, number) == by_name[name].read_bytes()


def test_image_over_the_pixel_limit_is_refused(client: Client, tmp_path: Path) -> None:
    # The session server refuses images over 50 megapixels; a blank bilevel PNG is tiny.
    huge = tmp_path / "huge.png"
    Image.new("1", (8000, 7000)).save(huge)
    task = client.tasks.create({"name": "too big", "labels": [{"name": "a"}]})

    with pytest.raises(ApiException) as caught:
        task.upload_data([huge], status_check_period=5)

    assert caught.value.status == 400
    assert b"huge.png" in (caught.value.body or b"")
    task.fetch()
    assert task.size == 0


@pytest.mark.parametrize(
    "params", [{"start_frame": 5}, {"start_frame": 2, "stop_frame": 1}, {"chunk_size": 0}]
)
def test_impossible_frame_selection_is_a_400(
    client: Client, tmp_path: Path, params: dict[str, int]
) -> None:
    files = noise_images(tmp_path, ["a.png", "b.png"])
    task = client.tasks.create({"name": "bad selection", "labels": [{"name": "a"}]})
    with pytest.raises(ApiException) as caught:
        task.upload_data(files, params=params, status_check_period=5)
    assert caught.value.status == 400
    task.fetch()
    assert task.size == 0


def test_non_image_file_is_a_400(client: Client, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    task = client.tasks.create({"name": "text file", "labels": [{"name": "a"}]})
    with pytest.raises(ApiException) as caught:
        task.upload_data([*noise_images(tmp_path, ["ok.png"]), notes], status_check_period=5)
    assert caught.value.status == 400
    assert b"notes.txt" in (caught.value.body or b"")


def test_tasks_created_in_parallel(server: Server, tmp_path: Path) -> None:
    """Four users' clients upload at once (SQLite and PostgreSQL must both cope)."""

    users = [server.create_user() for _ in range(4)]

    def create(index: int) -> tuple[list[Path], int]:
        files = noise_images(tmp_path / str(index), [f"p{i}.png" for i in range(4)], seed=index)
        with sdk_client(server, users[index]) as own:
            task = create_task(own, files, name=f"parallel {index}", segment_size=2)
            return files, task.id

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(create, range(4)))

    with sdk_client(server) as admin:
        for files, task_id in results:
            task = admin.tasks.retrieve(task_id)
            assert task.size == 4
            assert len(task.get_jobs()) == 2
            for number, path in enumerate(files):
                assert original_frame(task, number) == path.read_bytes()


def test_overlap_is_capped_at_half_a_segment(client: Client, tmp_path: Path) -> None:
    """CVAT caps the overlap at segment_size // 2 and reports the capped value."""
    files = noise_images(tmp_path, [f"o{i}.png" for i in range(10)])

    task = create_task(client, files, name="big overlap", segment_size=4, overlap=3)

    assert task.overlap == 2
    ranges = [(j.start_frame, j.stop_frame) for j in jobs_in_order(task)]
    assert ranges == [(0, 3), (2, 5), (4, 7), (6, 9)]


@pytest.mark.parametrize("segment_size", [None, 0, 20])
def test_effective_segment_size_is_reported(
    client: Client, tmp_path: Path, segment_size: int | None
) -> None:
    """CVAT stores the segment size it used: the frame count when none (or too big) was given."""
    files = noise_images(tmp_path, [f"e{i}.png" for i in range(6)])
    spec = {} if segment_size is None else {"segment_size": segment_size}

    task = create_task(client, files, name="effective segment", **spec)

    assert [(j.start_frame, j.stop_frame) for j in task.get_jobs()] == [(0, 5)]
    assert task.segment_size == 6


def test_natural_sorting_of_archive_paths(client: Client, tmp_path: Path) -> None:
    members = _member_images(tmp_path, ["d10/a.png", "d2/b10.png", "d2/b2.png", "d2/a.png"])
    archive = tmp_path / "paths.zip"
    archive.write_bytes(_zip_of(members))

    task = create_task(client, [archive], data_params={"sorting_method": "natural"})

    expected = ["d2/a.png", "d2/b2.png", "d2/b10.png", "d10/a.png"]
    assert frame_names(task) == expected
    for number, name in enumerate(expected):
        assert original_frame(task, number) == members[name]


def test_archive_member_escaping_the_folder_is_refused(
    client: Client, server: Server, tmp_path: Path
) -> None:
    [good] = noise_images(tmp_path, ["fine.png"])
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.png", good.read_bytes())
        zf.writestr("../../escaped-e2e.png", good.read_bytes())
    task = client.tasks.create({"name": "evil archive", "labels": [{"name": "a"}]})

    with pytest.raises(ApiException) as caught:
        task.upload_data([archive], status_check_period=5)

    assert caught.value.status == 400
    assert not list(server.data_dir.parent.rglob("escaped-e2e.png"))
    task.fetch()
    assert task.size == 0


def test_client_paths_are_reduced_to_base_names(http: httpx.Client, tmp_path: Path) -> None:
    files = noise_images(tmp_path, ["win.png", "unix.png"])
    created = http.post("/api/tasks", json={"name": "client paths", "labels": [{"name": "a"}]})
    task_id = created.json()["id"]
    assert http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Start": ""}).status_code == 202
    sent = http.post(
        f"/api/tasks/{task_id}/data/",
        headers={"Upload-Multiple": ""},
        files={
            "client_files[0]": ("C:\\Users\\alice\\data\\win.png", files[0].read_bytes(),
                                "image/png"),
            "client_files[1]": ("/home/alice/data/unix.png", files[1].read_bytes(), "image/png"),
        },
    )  # fmt: skip
    assert sent.status_code == 200
    finished = http.post(f"/api/tasks/{task_id}/data/", headers={"Upload-Finish": ""},
                         json={"image_quality": 70})  # fmt: skip
    assert finished.status_code == 202, finished.text
    meta = http.get(f"/api/tasks/{task_id}/data/meta").json()
    assert [f["name"] for f in meta["frames"]] == ["unix.png", "win.png"]
