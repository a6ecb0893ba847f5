"""The CLI's connection to a Tidegate server: where it is, who we are, one HTTP call.

Owns: resolving the server URL and the credentials (``--server``, then ``TIDEGATE_URL``,
``TIDEGATE_USERNAME``, ``TIDEGATE_TOKEN``, then ``~/.config/tidegate/cli.json`` written by
``tidegate login``), writing that file (mode 0600), and turning an HTTP answer into the exit
codes of docs/access.md. Never prints a secret; a stored token is only sent to the server it
was issued by.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import httpx

EXIT_USAGE = 1  # usage or validation error (4xx)
EXIT_AUTH = 3  # not authenticated or not allowed (401/403)
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_SERVER = 6  # server or network error
EXIT_GATE = 7  # a gate refused a promotion (docs/promotion.md)

API = "/api/v1"

ServerOption = Annotated[
    str | None,
    typer.Option("--server", help="Tidegate URL (default: TIDEGATE_URL, then `tidegate login`)"),
]


def exit_code_for(status: int) -> int:
    if status in (401, 403):
        return EXIT_AUTH
    if status == 404:
        return EXIT_NOT_FOUND
    if status == 409:
        return EXIT_CONFLICT
    if 400 <= status < 500:
        return EXIT_USAGE
    return EXIT_SERVER


class CliError(Exception):
    """What went wrong, for people, and the exit code a pipeline can branch on."""

    def __init__(
        self, message: str, exit_code: int, status: int = 0, code: str = "", body: Any = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status
        self.code = code
        self.body = body  # the error answer's JSON, when there was one


@dataclass(frozen=True, slots=True)
class Profile:
    """What ``tidegate login`` stores: the server, the user, and the access token it made."""

    url: str
    username: str
    token: str
    token_id: str = ""


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tidegate" / "cli.json"


def load_profile() -> Profile | None:
    path = config_path()
    try:
        data = json.loads(path.read_text())
        return Profile(
            url=str(data["url"]),
            username=str(data["username"]),
            token=str(data["token"]),
            token_id=str(data.get("token_id", "")),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        raise CliError(
            f"{path} is unreadable: remove it and run `tidegate login` again", EXIT_USAGE
        ) from None


def save_profile(profile: Profile) -> Path:
    """Write the profile readable by its owner only (created 0600, never widened)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(profile), f, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def remove_profile() -> None:
    config_path().unlink(missing_ok=True)


def normalize_url(url: str) -> str:
    """``host:port`` means https; the path and a trailing slash are dropped."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    if not url.startswith(("http://", "https://")):
        raise CliError(f"{url} is not an http(s) URL", EXIT_USAGE)
    return url


def _error_of(response: httpx.Response) -> CliError:
    status = response.status_code
    code, message = "", response.reason_phrase or f"HTTP {status}"
    body: Any = None
    try:
        body = response.json()
        if isinstance(body, dict) and "message" in body:
            code, message = str(body.get("code", "")), str(body["message"])
    except ValueError:
        text = response.text.strip()
        if text:
            message = text[:300]
    exit_code = EXIT_GATE if code == "GATE_REFUSED" else exit_code_for(status)
    return CliError(message, exit_code, status, code, body)


def basic(username: str, secret: str) -> str:
    """An ``Authorization`` value for a password or an access token used as one."""
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def bearer(token: str) -> str:
    return f"Bearer {token}"


class Remote:
    """One server, one identity; ``call`` sends a request to ``/api/v1`` and returns its JSON.

    httpx is imported on the first call, so ``tidegate serve`` never loads it."""

    def __init__(self, url: str, authorization: str | None = None, timeout: float = 30) -> None:
        self.url = url
        self.authorization = authorization
        self.timeout = timeout

    def raise_for(self, response: httpx.Response) -> None:
        """Raise the ``CliError`` of an error answer."""
        raise _error_of(response)

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str | list[str]] | None = None,
    ) -> Any:
        """The answer's JSON (``None`` for 204). Raises ``CliError`` for any error answer or
        when the server cannot be reached."""
        import httpx

        headers = {"Authorization": self.authorization} if self.authorization else {}
        try:
            response = httpx.request(
                method,
                f"{self.url}{API}{path}",
                json=body,
                params=params,
                headers=headers,
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach {self.url}: {exc}", EXIT_SERVER) from None
        if response.status_code >= 400:
            raise _error_of(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"{self.url} answered {response.status_code} without JSON: is it Tidegate?",
                EXIT_SERVER,
            ) from None


def remote(server: str | None) -> Remote:
    """The server and credentials for a remote command (see the module docstring)."""
    profile = load_profile()
    raw_url = server or os.environ.get("TIDEGATE_URL") or (profile.url if profile else None)
    if not raw_url:
        raise CliError(
            "no server: run `tidegate login URL`, set TIDEGATE_URL or pass --server", EXIT_USAGE
        )
    url = normalize_url(raw_url)
    token = os.environ.get("TIDEGATE_TOKEN")
    username = os.environ.get("TIDEGATE_USERNAME")
    if token:
        return Remote(url, basic(username, token) if username else bearer(token))
    if profile is not None and normalize_url(profile.url) == url:
        return Remote(url, bearer(profile.token))
    raise CliError(
        f"not logged in to {url}: run `tidegate login {url}` or set TIDEGATE_TOKEN", EXIT_AUTH
    )
