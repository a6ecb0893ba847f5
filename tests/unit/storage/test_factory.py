"""Choosing a storage driver by name (the behaviour of each driver: tests/backends)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidegate.storage.factory import create_driver


@pytest.mark.parametrize("name", ["filesystem", "memory"])
def test_driver_by_name(tmp_path: Path, name: str) -> None:
    assert create_driver(name, tmp_path).name == name


def test_filesystem_driver_creates_its_root(tmp_path: Path) -> None:
    create_driver("filesystem", tmp_path / "new" / "root")

    assert (tmp_path / "new" / "root").is_dir()


def test_filesystem_driver_needs_a_root() -> None:
    with pytest.raises(ValueError, match="needs a root directory"):
        create_driver("filesystem", None)


def test_unknown_driver_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown storage driver 's4'.*filesystem or memory"):
        create_driver("s4", tmp_path)
