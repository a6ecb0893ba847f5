"""Every example config in the repository is valid; a broken one is refused with its key named."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.server import TIDEGATE

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_is_valid(path: Path) -> None:
    result = subprocess.run(
        [str(TIDEGATE), "config", "check", str(path)], capture_output=True, text=True, env={}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_config_check_names_the_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: nowhere\nworkers: 0\nrepositories:\n  - key: Bad Key\n")
    result = subprocess.run(
        [str(TIDEGATE), "config", "check", str(bad)], capture_output=True, text=True, env={}
    )
    assert result.returncode == 2
    assert "listen: Value error, expected HOST:PORT" in result.stderr
    assert "workers:" in result.stderr
    assert "repositories.0.key" in result.stderr


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("repositories:\n  - {key: dev}\n  - {key: dev}\n", "duplicate key(s) dev"),
        ("repositories:\n  - {key: hub, kind: remote}\n", "'hub' needs an upstream"),
        (
            "repositories:\n  - {key: docker, kind: virtual, members: [dev]}\n",
            "unknown member(s) dev",
        ),
        (
            "repositories:\n  - key: dev\n    retention:"
            " {rules: [{tags: '*', older_than: 14 days}]}\n",
            "repositories.0.retention.rules[0].older_than: '14 days' is not a duration",
        ),
        (
            "repositories:\n  - key: dev\n    retention:"
            " {rules: [{tags: 'v[0-9]', keep_last: 1}]}\n",
            "repositories.0.retention.rules[0].tags: 'v[0-9]' is not a tag glob",
        ),
        (
            "repositories:\n  - key: dev\n    retention:"
            " {rules: [{tags: '*', keep_last: 1, where: ['Bad=x']}]}\n",
            "repositories.0.retention.rules[0].where[0]",
        ),
    ],
)
def test_repositories_that_do_not_fit_together_are_refused(
    tmp_path: Path, yaml_text: str, needle: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml_text)
    result = subprocess.run(
        [str(TIDEGATE), "config", "check", str(bad)], capture_output=True, text=True, env={}
    )
    assert result.returncode == 2
    assert needle in result.stderr


def test_config_check_hides_the_database_password(tmp_path: Path) -> None:
    config = tmp_path / "pg.yaml"
    config.write_text("database_url: postgresql+psycopg://tg:hunter2@db.example/tidegate\n")
    result = subprocess.run(
        [str(TIDEGATE), "config", "check", str(config)], capture_output=True, text=True, env={}
    )
    assert result.returncode == 0
    assert "hunter2" not in result.stdout
    assert "postgresql+psycopg://tg:********@db.example/tidegate" in result.stdout
