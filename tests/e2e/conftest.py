"""Fixtures for the end-to-end suite: the registry under test, real images, real clients.

Run against Tidegate (default) or, with TIDEGATE_E2E_REFERENCE=1, against Debian's reference
registry (CNCF distribution 2.8) to prove the tests themselves. Every daemon started here is
stopped by its PID at teardown, also when a test fails.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from ._clients import (
    Buildah,
    ContainersEnv,
    Ctr,
    Docker,
    Podman,
    Skopeo,
    empty_authfile,
    write_containers_config,
)
from ._images import Corpus, build_corpus
from ._regclient import RegistryHTTP
from ._servers import (
    REPO_KEY,
    DockerUnavailable,
    Registry,
    containerd_daemon,
    docker_daemon,
    log_tail,
    reference_mode,
    reference_registry,
    tidegate_registry,
)

E2E_DIR = Path(__file__).parent
MAX_SOCKET_DIR = 70  # unix socket paths must stay below 108 bytes


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e carries the `e2e` marker."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, show the tail of the registry's log next to the client output."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        reg = getattr(item, "funcargs", {}).get("registry")
        if isinstance(reg, Registry):
            report.sections.append((f"{reg.kind} log (tail) {reg.log}", log_tail(reg.log, 40)))
    return report


# ---------------------------------------------------------------------- the registry under test
@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The registry under test on a free loopback port, admin credentials, private data dir."""
    work = tmp_path_factory.mktemp("registry")
    server = reference_registry(work) if reference_mode() else tidegate_registry(work)
    with server as reg:
        yield reg


@pytest.fixture
def ns() -> str:
    """A fresh image namespace for one test, under the `dev` repository key."""
    return f"{REPO_KEY}/e2e-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api(registry: Registry) -> Iterator[RegistryHTTP]:
    """Raw distribution-API calls as admin (answers Basic or token challenges)."""
    with RegistryHTTP(registry.host, registry.username, registry.password) as client:
        yield client


# ---------------------------------------------------------------------- containers/image clients
@pytest.fixture(scope="session")
def cenv(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> ContainersEnv:
    """Private registries.conf (registry marked insecure: plain HTTP) and signature policy."""
    work = tmp_path_factory.mktemp("containers")
    registries, policy = write_containers_config(work, registry.host)
    (work / "tmp").mkdir()
    return ContainersEnv(registries, policy, work / "tmp")


@pytest.fixture(scope="session")
def authfile(
    registry: Registry, cenv: ContainersEnv, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """An auth file written by `skopeo login` as admin; podman and buildah use it too."""
    path = empty_authfile(tmp_path_factory.mktemp("auth") / "auth.json")
    Skopeo(cenv, path).login(registry.host, registry.username, registry.password, path)
    return path


@pytest.fixture(scope="session")
def skopeo(cenv: ContainersEnv, authfile: Path) -> Skopeo:
    return Skopeo(cenv, authfile)


@pytest.fixture
def podman(cenv: ContainersEnv, tmp_path: Path) -> Iterator[Podman]:
    """podman with private vfs storage for one test."""
    rundir = Path(tempfile.mkdtemp(prefix="tg-pm-", dir="/tmp"))
    try:
        yield Podman(cenv, tmp_path / "podman", rundir)
    finally:
        shutil.rmtree(rundir, ignore_errors=True)


@pytest.fixture
def buildah(cenv: ContainersEnv, tmp_path: Path) -> Buildah:
    """buildah with private vfs storage for one test."""
    return Buildah(cenv, tmp_path / "buildah")


@pytest.fixture(scope="session")
def corpus(cenv: ContainersEnv, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """The real images, built once per session (see _images.py)."""
    work = tmp_path_factory.mktemp("corpus")
    return build_corpus(Buildah(cenv, work / "buildah"), work)


# ---------------------------------------------------------------------- daemons
def _socket_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    path = tmp_path_factory.mktemp(name)
    if len(str(path)) > MAX_SOCKET_DIR:
        pytest.fail(f"{path} is too long for unix sockets: use a shorter --basetemp")
    return path


@pytest.fixture(scope="session")
def ctr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctr]:
    """ctr against a private containerd daemon (own root/state/socket, CRI plugin off)."""
    with containerd_daemon(_socket_dir(tmp_path_factory, "ctrd")) as sock:
        yield Ctr(sock)


@pytest.fixture(scope="session")
def docker(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Docker]:
    """docker CLI against a private dockerd that trusts the registry over plain HTTP.

    Skipped (with the daemon's own words) only when dockerd cannot start on this machine.
    """
    work = _socket_dir(tmp_path_factory, "dockerd")
    config_dir = work / "cli"
    config_dir.mkdir()
    with contextlib.ExitStack() as stack:
        try:
            sock = stack.enter_context(docker_daemon(work, registry.host))
        except DockerUnavailable as exc:
            pytest.skip(str(exc))
        yield Docker(sock, config_dir)
