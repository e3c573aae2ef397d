"""Tests for safe archive extraction."""

from __future__ import annotations

import io
import tarfile
import time
import warnings
import zipfile
from pathlib import Path

import pytest

from labelbay.errors import MediaError
from labelbay.media.archives import ARCHIVE_SUFFIXES, extract_archive, is_archive_name

PNG_BYTES = b"\x89PNG\r\n\x1a\n fake image payload"  # extraction does not look inside


def payload(name: str) -> bytes:
    return PNG_BYTES + name.encode()


def make_zip(
    path: Path,
    names: list[str],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are deliberate in some tests
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            for name in names:
                if name.endswith("/"):
                    zf.writestr(name, b"")
                else:
                    zf.writestr(name, payload(name))
    return path


def make_tar(path: Path, names: list[str], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for name in names:
            info = tarfile.TarInfo(name)
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
                continue
            data = payload(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def extract(path: Path, dest: Path) -> list[str]:
    return extract_archive(path, dest, archive_name=path.name)


def expect_error(path: Path, dest: Path, file: str, *fragments: str) -> MediaError:
    with pytest.raises(MediaError) as caught:
        extract(path, dest)
    error = caught.value
    assert error.detail["file"] == file
    assert error.status == 400
    for fragment in fragments:
        assert fragment in error.message
    return error


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# --- names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a.zip", "B.ZIP", "c.tar", "d.tar.gz", "e.TGZ", "f.tar.bz2", "g.tar.xz"]
)
def test_archive_names(name: str) -> None:
    assert is_archive_name(name)


@pytest.mark.parametrize("name", ["a.gz", "b.rar", "c.7z", "d.png", "zip", "e.tar.zst"])
def test_non_archive_names(name: str) -> None:
    assert not is_archive_name(name)


def test_suffix_list() -> None:
    assert set(ARCHIVE_SUFFIXES) == {".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"}


# --- zip ------------------------------------------------------------------------------


def test_zip_with_nested_folders_and_junk(tmp_path: Path) -> None:
    names = [
        "a/",
        "a/b/",
        "a/b/img1.png",
        "a/img10.JPG",
        "top.jpg",
        "readme.txt",
        "a/b/labels.xml",
        "__MACOSX/a/b/._img1.png",
        "__MACOSX/top.jpg",
        ".hidden.png",
        "a/.DS_Store",
        "a/._img2.png",
        ".thumbs/t.png",
        "./c/img3.webp",
    ]
    archive = make_zip(tmp_path / "up.zip", names)
    dest = tmp_path / "out"
    extracted = extract(archive, dest)
    assert extracted == ["a/b/img1.png", "a/img10.JPG", "top.jpg", "c/img3.webp"]
    assert files_under(dest) == set(extracted)
    assert (dest / "a/b/img1.png").read_bytes() == payload("a/b/img1.png")
    assert (dest / "c/img3.webp").read_bytes() == payload("./c/img3.webp")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_zip_compression_methods(tmp_path: Path, compression: int) -> None:
    archive = make_zip(tmp_path / "up.zip", ["x/1.png", "2.png"], compression=compression)
    assert extract(archive, tmp_path / "out") == ["x/1.png", "2.png"]


def test_large_member_is_streamed_intact(tmp_path: Path) -> None:
    big = bytes(range(256)) * 20_000  # 5 MB, several copy chunks
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.tif", big)
    extract(archive, tmp_path / "out")
    assert (tmp_path / "out/big.tif").read_bytes() == big


def test_windows_backslash_names(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "win.zip", ["photos\\day 1\\img.png", "photos\\other.jpg"])
    assert extract(archive, tmp_path / "out") == ["photos/day 1/img.png", "photos/other.jpg"]
    assert (tmp_path / "out/photos/day 1/img.png").is_file()


def test_unicode_names(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "u.zip", ["фото/снимок 1.png", "日本/画像.jpg"])
    assert extract(archive, tmp_path / "out") == ["фото/снимок 1.png", "日本/画像.jpg"]


def test_inner_dot_dot_that_stays_inside_is_normalised(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "n.zip", ["a/../b.png", "c/./d.png"])
    assert extract(archive, tmp_path / "out") == ["b.png", "c/d.png"]


@pytest.mark.parametrize(
    "evil",
    [
        "../evil.png",
        "a/../../evil.png",
        "..\\evil.png",
        "a\\..\\..\\evil.png",
        "/etc/evil.png",
        "\\evil.png",
        "C:/evil.png",
        "c:\\windows\\evil.png",
        "C:evil.png",
        "../readme.txt",
    ],
)
def test_zip_member_escaping_the_folder(tmp_path: Path, evil: str) -> None:
    archive = make_zip(tmp_path / "evil.zip", ["ok.png", evil])
    dest = tmp_path / "sub" / "out"
    expect_error(archive, dest, f"evil.zip:{evil}", "escapes the archive folder")
    assert not (tmp_path / "sub" / "evil.png").exists()
    assert not (tmp_path / "evil.png").exists()


def test_zip_symlink_member(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link.png")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    expect_error(archive, tmp_path / "out", "link.zip:link.png", "is a link")


def test_zip_from_windows_with_no_unix_mode(tmp_path: Path) -> None:
    archive = tmp_path / "dos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("img.png")
        info.create_system = 0
        info.external_attr = 0x20  # FILE_ATTRIBUTE_ARCHIVE
        zf.writestr(info, PNG_BYTES)
    assert extract(archive, tmp_path / "out") == ["img.png"]


def test_zip_duplicate_members(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "dup.zip", ["a/x.png", "a/x.png"])
    expect_error(archive, tmp_path / "out", "dup.zip:a/x.png", "more than once")


def test_zip_duplicate_after_normalisation(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "dup.zip", ["a/x.png", "a\\x.png"])
    expect_error(archive, tmp_path / "out", "dup.zip:a\\x.png", "more than once")


def test_zip_file_and_folder_with_the_same_name(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "clash.zip", ["a.png", "a.png/b.png"])
    expect_error(archive, tmp_path / "out", "clash.zip:a.png/b.png", "clashes")
    archive = make_zip(tmp_path / "clash1.zip", ["x/y.png", "x/y.png/z/w.png"])
    expect_error(archive, tmp_path / "out1", "clash1.zip:x/y.png/z/w.png", "clashes")
    archive = make_zip(tmp_path / "clash2.zip", ["a.png/b.png", "a.png"])
    expect_error(archive, tmp_path / "out2", "clash2.zip:a.png", "clashes")


def flip_byte_in_member(archive: Path, member: str, offset_in_data: int = 5) -> None:
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(member)
    raw = bytearray(archive.read_bytes())
    name_len, extra_len = (
        int.from_bytes(raw[info.header_offset + 26 : info.header_offset + 28], "little"),
        int.from_bytes(raw[info.header_offset + 28 : info.header_offset + 30], "little"),
    )
    data_start = info.header_offset + 30 + name_len + extra_len
    raw[data_start + offset_in_data] ^= 0xFF
    archive.write_bytes(bytes(raw))


def test_zip_stored_member_with_bad_crc(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "crc.zip", ["good.png", "dir/bad.png"], compression=0)
    flip_byte_in_member(archive, "dir/bad.png")
    dest = tmp_path / "out"
    expect_error(archive, dest, "crc.zip:dir/bad.png", "corrupt")
    assert not (dest / "dir/bad.png").exists()  # the partial file is removed


def test_zip_deflated_member_with_corrupt_data(tmp_path: Path) -> None:
    archive = tmp_path / "deflate.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bad.png", bytes(range(256)) * 100)
    flip_byte_in_member(archive, "bad.png", offset_in_data=3)
    expect_error(archive, tmp_path / "out", "deflate.zip:bad.png", "corrupt")


def test_corrupt_member_that_is_skipped_does_not_matter(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "skip.zip", ["a.png", "notes.txt"], compression=0)
    flip_byte_in_member(archive, "notes.txt")
    assert extract(archive, tmp_path / "out") == ["a.png"]


def test_truncated_zip(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "cut.zip", [f"img{i}.png" for i in range(20)])
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    expect_error(archive, tmp_path / "out", "cut.zip", "corrupt")


def test_text_file_named_zip(tmp_path: Path) -> None:
    archive = tmp_path / "fake.zip"
    archive.write_text("not a zip at all")
    expect_error(archive, tmp_path / "out", "fake.zip", "corrupt")


def test_empty_zip(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "empty.zip", [])
    assert extract(archive, tmp_path / "out") == []


def test_unknown_suffix_is_sniffed(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "upload.bin", ["a.png"])
    assert extract(archive, tmp_path / "out1") == ["a.png"]
    archive = make_tar(tmp_path / "upload2.bin", ["b.png"], mode="w:gz")
    assert extract(archive, tmp_path / "out2") == ["b.png"]


def test_encrypted_zip_member(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "enc.zip", ["a.png"], compression=0)
    raw = bytearray(archive.read_bytes())
    raw[6] |= 0x1  # local header flag: encrypted
    central = raw.rindex(b"PK\x01\x02")
    raw[central + 8] |= 0x1  # central directory flag: encrypted
    archive.write_bytes(bytes(raw))
    expect_error(archive, tmp_path / "out", "enc.zip:a.png", "encrypted")


# --- tar ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [
        (".tar", "w"),
        (".tar.gz", "w:gz"),
        (".tgz", "w:gz"),
        (".tar.bz2", "w:bz2"),
        (".tar.xz", "w:xz"),
    ],
)
def test_tar_flavours(tmp_path: Path, suffix: str, mode: str) -> None:
    names = ["set/", "set/a/1.png", "set/a/2.jpg", "set/info.txt", "set/._1.png", "./z.bmp"]
    archive = make_tar(tmp_path / f"up{suffix}", names, mode)
    dest = tmp_path / "out"
    assert extract(archive, dest) == ["set/a/1.png", "set/a/2.jpg", "z.bmp"]
    assert (dest / "set/a/2.jpg").read_bytes() == payload("set/a/2.jpg")
    assert files_under(dest) == {"set/a/1.png", "set/a/2.jpg", "z.bmp"}


def add_special(path: Path, name: str, kind: bytes, linkname: str = "") -> Path:
    with tarfile.open(path, "w") as tf:
        data = payload("ok.png")
        ok = tarfile.TarInfo("ok.png")
        ok.size = len(data)
        tf.addfile(ok, io.BytesIO(data))
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        tf.addfile(info)
    return path


def test_tar_symlink(tmp_path: Path) -> None:
    archive = add_special(tmp_path / "l.tar", "pic.png", tarfile.SYMTYPE, "/etc/passwd")
    expect_error(archive, tmp_path / "out", "l.tar:pic.png", "is a link")
    assert not (tmp_path / "out/pic.png").exists()


def test_tar_symlink_with_non_image_name(tmp_path: Path) -> None:
    archive = add_special(tmp_path / "l.tar", "photos", tarfile.SYMTYPE, "/")
    expect_error(archive, tmp_path / "out", "l.tar:photos", "is a link")


def test_tar_hardlink(tmp_path: Path) -> None:
    archive = add_special(tmp_path / "h.tar", "again.png", tarfile.LNKTYPE, "ok.png")
    expect_error(archive, tmp_path / "out", "h.tar:again.png", "is a link")


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_tar_devices(tmp_path: Path, kind: bytes) -> None:
    archive = add_special(tmp_path / "d.tar", "dev.png", kind)
    expect_error(archive, tmp_path / "out", "d.tar:dev.png", "device")


def test_tar_member_escaping_the_folder(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "e.tar.gz", ["ok.png", "../../evil.png"], mode="w:gz")
    expect_error(archive, tmp_path / "out", "e.tar.gz:../../evil.png", "escapes")
    archive = make_tar(tmp_path / "abs.tar", ["/tmp/evil.png"])
    expect_error(archive, tmp_path / "out2", "abs.tar:/tmp/evil.png", "escapes")


def test_tar_duplicate_members(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "dup.tar", ["a.png", "./a.png"])
    expect_error(archive, tmp_path / "out", "dup.tar:./a.png", "more than once")


def test_truncated_tar_gz(tmp_path: Path) -> None:
    archive = tmp_path / "cut.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for i in range(5):
            data = bytes(range(256)) * 400 + bytes([i])
            info = tarfile.TarInfo(f"img{i}.png")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(MediaError) as caught:
        extract(archive, tmp_path / "out")
    error = caught.value
    assert "corrupt" in error.message
    assert str(error.detail["file"]).startswith("cut.tar.gz")


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_cut_between_members(tmp_path: Path, mode: str) -> None:
    # Keep exactly the first member (header + padded data) and drop the rest, so every
    # header tarfile reads is intact and only the end-of-archive marker is missing.
    plain = make_tar(tmp_path / "full.tar", ["a.png", "b.png", "c.png"])
    first_member_end = 512 + 512  # header + one block of data
    cut = plain.read_bytes()[:first_member_end]
    archive = tmp_path / f"cut.{mode.replace('w:', 'tar.').replace('w', 'tar')}"
    if mode == "w":
        archive.write_bytes(cut)
    else:
        import bz2
        import gzip
        import lzma

        compress = {"w:gz": gzip.compress, "w:bz2": bz2.compress, "w:xz": lzma.compress}[mode]
        archive.write_bytes(compress(cut))
    expect_error(archive, tmp_path / "out", archive.name, "corrupt")


def test_compressed_tar_cut_mid_stream(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "x.tar.xz", [f"{i}.png" for i in range(50)], mode="w:xz")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) - 40])
    expect_error(archive, tmp_path / "out", "x.tar.xz", "corrupt")


def test_truncated_plain_tar_names_the_member(tmp_path: Path) -> None:
    archive = tmp_path / "cut.tar"
    with tarfile.open(archive, "w") as tf:
        data = b"x" * 50_000
        info = tarfile.TarInfo("dir/img.png")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    archive.write_bytes(archive.read_bytes()[:20_000])
    expect_error(archive, tmp_path / "out", "cut.tar:dir/img.png", "corrupt")
    assert not (tmp_path / "out/dir/img.png").exists()


def test_garbage_tar(tmp_path: Path) -> None:
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00garbage garbage garbage")
    expect_error(archive, tmp_path / "out", "bad.tar.gz", "corrupt")


# --- speed ----------------------------------------------------------------------------


def test_many_tiny_members_extract_quickly(tmp_path: Path) -> None:
    names = [f"d{i % 50}/img_{i}.png" for i in range(5000)]
    archive = make_zip(tmp_path / "many.zip", names, compression=zipfile.ZIP_STORED)
    started = time.perf_counter()
    extracted = extract(archive, tmp_path / "out")
    elapsed = time.perf_counter() - started
    assert extracted == names
    assert elapsed < 15.0, f"5,000 members took {elapsed:.2f}s"  # generous: shared disks
