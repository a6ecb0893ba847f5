"""Settings of remote repositories (docs/remote-virtual.md "Remote")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidegate.config import RepositorySettings, Settings, load_settings
from tidegate.errors import ConfigInvalid


def test_remote_defaults() -> None:
    repo = RepositorySettings(key="hub", kind="remote", upstream="https://registry-1.docker.io")
    assert (repo.tag_ttl, repo.negative_ttl, repo.upstream_timeout) == (300, 60, 30.0)
    assert (repo.library_prefix, repo.offline) == (True, False)


@pytest.mark.parametrize(
    "upstream", ["registry-1.docker.io", "ftp://r.example", "https://r.example/v2/", "http://"]
)
def test_an_upstream_must_be_an_http_origin(tmp_path: Path, upstream: str) -> None:
    config = tmp_path / "tidegate.yaml"
    config.write_text(f"repositories:\n  - {{key: hub, kind: remote, upstream: '{upstream}'}}\n")
    with pytest.raises(ConfigInvalid, match="must be http"):
        load_settings(config, environ={})


def test_credentials_in_the_upstream_url_are_refused_and_not_echoed(tmp_path: Path) -> None:
    config = tmp_path / "tidegate.yaml"
    config.write_text(
        "repositories:\n  - {key: hub, kind: remote, upstream: 'https://bob:pw-123@r.example'}\n"
    )
    with pytest.raises(ConfigInvalid, match="must not contain credentials") as caught:
        load_settings(config, environ={})
    assert "pw-123" not in str(caught.value)


def test_the_upstream_password_is_hidden_in_the_effective_settings() -> None:
    settings = Settings.model_validate(
        {
            "repositories": [
                {
                    "key": "hub",
                    "kind": "remote",
                    "upstream": "http://127.0.0.1:5001",
                    "upstream_password": "s3cret-pull-password",
                }
            ]
        }
    )
    assert "s3cret-pull-password" not in repr(settings.redacted())
