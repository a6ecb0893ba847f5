"""Virtual repositories in the config file: cycles and a non-local ``default_deploy`` are
refused at start, with messages that name the keys (docs/remote-virtual.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidegate.config import load_settings, virtual_cycle
from tidegate.errors import ConfigInvalid


def _load(tmp_path: Path, repositories: str) -> None:
    path = tmp_path / "tidegate.yaml"
    path.write_text("repositories:\n" + repositories)
    load_settings(path, environ={})


def test_a_cycle_of_virtual_repositories_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        _load(
            tmp_path,
            "  - {key: dev, kind: local}\n"
            "  - {key: docker, kind: virtual, members: [dev, release]}\n"
            "  - {key: release, kind: virtual, members: [docker]}\n",
        )
    assert "docker -> release -> docker" in str(caught.value)


def test_a_virtual_listing_itself_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        _load(tmp_path, "  - {key: docker, kind: virtual, members: [docker]}\n")
    assert "'docker'" in str(caught.value)


def test_default_deploy_must_be_a_local_member(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        _load(
            tmp_path,
            "  - {key: hub, kind: remote, upstream: 'https://registry-1.docker.io'}\n"
            "  - {key: docker, kind: virtual, members: [hub], default_deploy: hub}\n",
        )
    message = str(caught.value)
    assert "default_deploy 'hub' of 'docker'" in message and "remote" in message


def test_nested_virtuals_without_a_cycle_are_accepted(tmp_path: Path) -> None:
    _load(
        tmp_path,
        "  - {key: dev, kind: local}\n"
        "  - {key: docker, kind: virtual, members: [dev], default_deploy: dev}\n"
        "  - {key: outer, kind: virtual, members: [docker, dev]}\n",
    )


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": ["b"], "b": ["c"], "c": []}, None),
        ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"a": ["x", "b"], "b": ["c"], "c": ["b"]}, ["b", "c", "b"]),
        ({"a": ["a"]}, ["a", "a"]),
        ({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}, None),  # a diamond is no cycle
    ],
)
def test_virtual_cycle(graph: dict[str, list[str]], cycle: list[str] | None) -> None:
    assert virtual_cycle(graph) == cycle
