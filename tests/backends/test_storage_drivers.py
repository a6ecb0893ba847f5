"""The storage driver protocol (tidegate.storage.base), one suite run by every driver.

A new driver joins by adding its name to ``DRIVERS``: it must pass every test here unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tidegate.storage import PathNotFound, StorageDriver
from tidegate.storage.factory import create_driver
from tidegate.storage.filesystem import FilesystemDriver

DRIVERS = ["filesystem", "memory"]
DATA = b"0123456789abcdefghij"  # 20 bytes


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    return create_driver(request.param, tmp_path / "storage")


def put(driver: StorageDriver, path: str, data: bytes) -> None:
    writer = driver.writer(path)
    writer.write(data)
    writer.commit()


def read(driver: StorageDriver, path: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join(driver.read(path, offset, length))


# --- write, stat, read -------------------------------------------------------------------


def test_committed_file_can_be_stat_read_and_read_whole(driver: StorageDriver) -> None:
    put(driver, "blobs/sha256/ab/abcdef", DATA)

    assert driver.stat("blobs/sha256/ab/abcdef") == len(DATA)
    assert driver.exists("blobs/sha256/ab/abcdef")
    assert read(driver, "blobs/sha256/ab/abcdef") == DATA
    assert driver.read_all("blobs/sha256/ab/abcdef") == DATA


def test_empty_file_exists_with_size_zero(driver: StorageDriver) -> None:
    driver.writer("uploads/empty/data").commit()

    assert driver.exists("uploads/empty/data")
    assert driver.stat("uploads/empty/data") == 0
    assert read(driver, "uploads/empty/data") == b""


def test_read_yields_chunks_no_larger_than_asked(driver: StorageDriver) -> None:
    put(driver, "f", DATA)

    chunks = list(driver.read("f", chunk_size=6))

    assert all(0 < len(chunk) <= 6 for chunk in chunks)
    assert b"".join(chunks) == DATA


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, None, DATA),
        (5, None, DATA[5:]),
        (5, 4, DATA[5:9]),
        (5, 1000, DATA[5:]),
        (0, 0, b""),
        (len(DATA) - 1, None, DATA[-1:]),
        (len(DATA), None, b""),
        (len(DATA), 5, b""),
    ],
    ids=[
        "all",
        "from-offset",
        "offset-and-length",
        "length-past-end",
        "zero-length",
        "last-byte",
        "offset-at-end",
        "offset-at-end-with-length",
    ],
)
def test_read_from_offset_with_length(
    driver: StorageDriver, offset: int, length: int | None, expected: bytes
) -> None:
    put(driver, "f", DATA)

    assert read(driver, "f", offset, length) == expected


def test_offset_and_length_work_across_chunks(driver: StorageDriver) -> None:
    put(driver, "f", DATA)

    assert b"".join(driver.read("f", 3, 11, chunk_size=4)) == DATA[3:14]


# --- writers: replace, append, close --------------------------------------------------------


def test_writer_without_append_replaces_the_file(driver: StorageDriver) -> None:
    put(driver, "f", b"old content that is long")

    writer = driver.writer("f")
    assert writer.size == 0
    writer.write(b"new")
    writer.commit()

    assert driver.read_all("f") == b"new"
    assert driver.stat("f") == 3


def test_append_keeps_existing_bytes_and_size_counts_them(driver: StorageDriver) -> None:
    put(driver, "uploads/u/data", b"abc")

    writer = driver.writer("uploads/u/data", append=True)
    assert writer.size == 3
    writer.write(b"de")
    writer.write(b"fgh")
    assert writer.size == 8
    writer.commit()

    assert driver.read_all("uploads/u/data") == b"abcdefgh"
    assert driver.stat("uploads/u/data") == 8


def test_append_creates_a_missing_file(driver: StorageDriver) -> None:
    writer = driver.writer("uploads/new/data", append=True)
    assert writer.size == 0
    writer.write(b"xyz")
    writer.commit()

    assert driver.read_all("uploads/new/data") == b"xyz"


def test_close_without_commit_keeps_data_for_a_later_append(driver: StorageDriver) -> None:
    first = driver.writer("uploads/u/data")
    first.write(b"part one;")
    first.close()

    assert driver.stat("uploads/u/data") == 9
    second = driver.writer("uploads/u/data", append=True)
    assert second.size == 9
    second.write(b"part two")
    second.commit()

    assert driver.read_all("uploads/u/data") == b"part one;part two"


# --- move --------------------------------------------------------------------------------


def test_move_replaces_destination_and_removes_source(driver: StorageDriver) -> None:
    put(driver, "uploads/u/data", b"new bytes")
    put(driver, "blobs/sha256/ab/abc", b"old")

    driver.move("uploads/u/data", "blobs/sha256/ab/abc")

    assert driver.read_all("blobs/sha256/ab/abc") == b"new bytes"
    assert driver.stat("blobs/sha256/ab/abc") == 9
    assert not driver.exists("uploads/u/data")
    with pytest.raises(PathNotFound):
        driver.stat("uploads/u/data")


def test_move_creates_the_destination_directories(driver: StorageDriver) -> None:
    put(driver, "uploads/u/data", DATA)

    driver.move("uploads/u/data", "blobs/sha512/cd/cdef")

    assert driver.read_all("blobs/sha512/cd/cdef") == DATA
    assert driver.list("blobs/sha512") == ["cd"]


def test_move_of_missing_source_raises_and_leaves_destination(driver: StorageDriver) -> None:
    put(driver, "blobs/sha256/ab/abc", b"keep me")

    with pytest.raises(PathNotFound) as raised:
        driver.move("uploads/missing/data", "blobs/sha256/ab/abc")

    assert raised.value.path == "uploads/missing/data"
    assert driver.read_all("blobs/sha256/ab/abc") == b"keep me"


# --- missing paths -------------------------------------------------------------------------

MISSING_READS: dict[str, Callable[[StorageDriver, str], object]] = {
    "stat": lambda d, p: d.stat(p),
    "read": lambda d, p: d.read(p),  # raises when called, before anything is iterated
    "read_all": lambda d, p: d.read_all(p),
}


@pytest.mark.parametrize("operation", list(MISSING_READS))
@pytest.mark.parametrize("path", ["nothing-here", "blobs/sha256/00/missing"])
def test_missing_path_raises_path_not_found(
    driver: StorageDriver, operation: str, path: str
) -> None:
    put(driver, "blobs/sha256/ab/present", DATA)

    with pytest.raises(PathNotFound) as raised:
        MISSING_READS[operation](driver, path)

    assert raised.value.path == path


@pytest.mark.parametrize("operation", list(MISSING_READS))
@pytest.mark.parametrize("path", ["dir", "file/child"], ids=["a-directory", "below-a-file"])
def test_path_that_is_not_a_file_raises_path_not_found(
    driver: StorageDriver, operation: str, path: str
) -> None:
    """Only files have bytes: a directory, or a path below a file, is missing like any other
    (PathNotFound, never the backend's own IsADirectoryError or NotADirectoryError)."""
    put(driver, "dir/inside", DATA)
    put(driver, "file", DATA)

    with pytest.raises(PathNotFound):
        MISSING_READS[operation](driver, path)


# --- delete ------------------------------------------------------------------------------


def test_delete_removes_a_file(driver: StorageDriver) -> None:
    put(driver, "blobs/sha256/ab/abc", DATA)
    put(driver, "blobs/sha256/ab/abd", DATA)

    driver.delete("blobs/sha256/ab/abc")

    assert not driver.exists("blobs/sha256/ab/abc")
    with pytest.raises(PathNotFound):
        driver.read_all("blobs/sha256/ab/abc")
    assert driver.exists("blobs/sha256/ab/abd")


def test_delete_removes_a_directory_tree_and_nothing_beside_it(driver: StorageDriver) -> None:
    put(driver, "uploads/u1/data", DATA)
    put(driver, "uploads/u1/sub/more", DATA)
    put(driver, "uploads/u10/data", DATA)  # same string prefix, another directory

    driver.delete("uploads/u1")

    assert not driver.exists("uploads/u1/data")
    assert not driver.exists("uploads/u1/sub/more")
    assert driver.list("uploads/u1") == []
    assert driver.read_all("uploads/u10/data") == DATA
    assert driver.list("uploads") == ["u10"]


@pytest.mark.parametrize(
    "path", ["missing", "uploads/missing/data", "deep/missing/tree", "uploads/u/data/below"]
)
def test_delete_of_a_missing_path_is_not_an_error(driver: StorageDriver, path: str) -> None:
    put(driver, "uploads/u/data", DATA)

    driver.delete(path)

    assert driver.read_all("uploads/u/data") == DATA


# --- list and exists -----------------------------------------------------------------------


def test_list_returns_names_of_direct_children(driver: StorageDriver) -> None:
    put(driver, "blobs/sha256/ab/abc", DATA)
    put(driver, "blobs/sha256/ab/abd", DATA)
    put(driver, "blobs/sha256/cd/cde", DATA)
    put(driver, "blobs/sha256/top", DATA)
    put(driver, "blobs/sha512/ef/efg", DATA)

    assert sorted(driver.list("blobs/sha256")) == ["ab", "cd", "top"]
    assert sorted(driver.list("blobs/sha256/ab")) == ["abc", "abd"]
    assert sorted(driver.list("blobs")) == ["sha256", "sha512"]


@pytest.mark.parametrize("prefix", ["nothing", "blobs/sha384", "blobs/sha256/ab/abc"])
def test_list_of_a_missing_directory_is_empty(driver: StorageDriver, prefix: str) -> None:
    put(driver, "blobs/sha256/ab/abc", DATA)

    assert driver.list(prefix) == []


def test_exists_is_true_only_for_files(driver: StorageDriver) -> None:
    put(driver, "blobs/sha256/ab/abc", DATA)

    assert driver.exists("blobs/sha256/ab/abc")
    assert not driver.exists("blobs/sha256/ab/abd")
    assert not driver.exists("blobs/sha256/ab")  # a directory is not a file
    assert not driver.exists("nowhere/at/all")


# --- local_path ----------------------------------------------------------------------------


def test_local_path_is_a_readable_file_or_none(driver: StorageDriver) -> None:
    put(driver, "blobs/sha256/ab/abc", DATA)

    local = driver.local_path("blobs/sha256/ab/abc")

    if driver.name == "filesystem":
        assert local is not None
        assert Path(local).is_absolute()
        assert Path(local).read_bytes() == DATA
    else:
        assert local is None


# --- filesystem safety ---------------------------------------------------------------------

UNSAFE_OPERATIONS: dict[str, Callable[[FilesystemDriver, str], object]] = {
    "stat": lambda d, p: d.stat(p),
    "exists": lambda d, p: d.exists(p),
    "read": lambda d, p: d.read(p),
    "read_all": lambda d, p: d.read_all(p),
    "writer": lambda d, p: d.writer(p),
    "move-from": lambda d, p: d.move(p, "inside"),
    "move-to": lambda d, p: d.move("inside", p),
    "delete": lambda d, p: d.delete(p),
    "list": lambda d, p: d.list(p),
    "local_path": lambda d, p: d.local_path(p),
}


@pytest.mark.parametrize("operation", list(UNSAFE_OPERATIONS))
@pytest.mark.parametrize("path", ["../escape", "/etc/passwd", "a/../../escape", ".."])
def test_filesystem_refuses_paths_outside_its_root(
    tmp_path: Path, operation: str, path: str
) -> None:
    driver = FilesystemDriver(tmp_path / "root")
    put(driver, "inside", DATA)
    (tmp_path / "escape").write_bytes(b"outside the root")

    with pytest.raises(ValueError, match="unsafe storage path"):
        UNSAFE_OPERATIONS[operation](driver, path)

    assert (tmp_path / "escape").read_bytes() == b"outside the root"
    assert driver.read_all("inside") == DATA


def test_filesystem_files_survive_a_new_driver_on_the_same_root(tmp_path: Path) -> None:
    put(FilesystemDriver(tmp_path / "root"), "blobs/sha256/ab/abc", DATA)

    assert FilesystemDriver(tmp_path / "root").read_all("blobs/sha256/ab/abc") == DATA
