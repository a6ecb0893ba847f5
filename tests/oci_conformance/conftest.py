"""One real Tidegate server for the whole conformance port, and a client that authenticates as
the Go conformance suite does (anonymous first, then the 401 challenge: Bearer token flow).

The server is configured with the ``dev`` repository (accepts pushes) and ``sparse`` (a local
repository with ``allow_sparse: true``, for the sparse data set). Every test works in its own
image name, ``<key>/conformance/<random>``, so tests are independent.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import httpx
import pytest

from tests.support.server import RunningServer, tidegate_server

from ._registry import Reg, SuiteAuth, new_name

CONFIG = """\
repositories:
  - {key: dev, stage: dev}
  - {key: sparse, allow_sparse: true}
"""


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    work = tmp_path_factory.mktemp("oci-conformance")
    config = work / "tidegate.yaml"
    config.write_text(CONFIG)
    with tidegate_server(work / "data", config=config) as running:
        yield running


@pytest.fixture(scope="session")
def suite_client(server: RunningServer) -> Iterator[httpx.Client]:
    auth = SuiteAuth(server.username, server.password)
    with httpx.Client(base_url=server.url, auth=auth, timeout=120, follow_redirects=True) as client:
        yield client


@pytest.fixture(scope="session")
def basic_client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, auth=server.auth, timeout=120, follow_redirects=True
    ) as client:
        yield client


@pytest.fixture
def reg(suite_client: httpx.Client) -> Reg:
    """The conformance client (the suite's authentication flow)."""
    return Reg(suite_client)


@pytest.fixture
def basic_reg(basic_client: httpx.Client) -> Reg:
    """The same client with Basic credentials sent on every request."""
    return Reg(basic_client)


@pytest.fixture
def repo1() -> str:
    return new_name()


@pytest.fixture
def repo2(repo1: str) -> str:
    return f"{repo1}-2"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """On failure, show the tail of the server's log."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed and report.when == "call":
        srv = item.funcargs.get("server") if hasattr(item, "funcargs") else None
        if srv is None:
            return
        tail = "\n".join(srv.log().splitlines()[-25:])
        report.sections.append(("tidegate log (tail)", tail))
