"""One typed settings tree: a YAML file plus ``TIDEGATE_*`` environment overrides.

Owns: every setting's name, default and validation (PRODUCT.md §9). Validation errors name the
key and the reason. Imports only ``tidegate.errors`` and ``tidegate.oci``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from tidegate.errors import ConfigInvalid
from tidegate.oci.names import REPOSITORY_KEY_RE

# The contract's environment names (PRODUCT.md §9); not derivable from a prefix rule.
ENV_KEYS: dict[str, str] = {
    "TIDEGATE_LISTEN": "listen",
    "TIDEGATE_DATA": "data_dir",
    "TIDEGATE_DATABASE_URL": "database_url",
    "TIDEGATE_ADMIN_PASSWORD": "admin_password",
    "TIDEGATE_DEFAULT_REPOSITORY": "default_repository",
    "TIDEGATE_WORKERS": "workers",
    "TIDEGATE_SERVER": "server",
    "TIDEGATE_LOG_LEVEL": "log_level",
    "TIDEGATE_TOKEN_TTL": "token_ttl",
    "TIDEGATE_BODY_IDLE_TIMEOUT": "body_idle_timeout",
    "TIDEGATE_LOGIN_FAILURES": "login_failures",
    "TIDEGATE_LOGIN_FAILURE_WINDOW": "login_failure_window",
    "TIDEGATE_PUBLIC_URL": "public_url",
    "TIDEGATE_TLS_CERT": "tls.cert",
    "TIDEGATE_TLS_KEY": "tls.key",
    "TIDEGATE_SMTP_HOST": "smtp.host",
    "TIDEGATE_SMTP_PORT": "smtp.port",
    "TIDEGATE_SMTP_USERNAME": "smtp.username",
    "TIDEGATE_SMTP_PASSWORD": "smtp.password",
    "TIDEGATE_GC_GRACE": "gc.grace",
    "TIDEGATE_GC_SCHEDULE": "gc.schedule",
    "TIDEGATE_UPLOADS_MAX_AGE": "uploads_max_age",
}

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1}
for _i, _p in enumerate("KMGTP", start=1):
    _UNITS[_p] = _UNITS[_p + "B"] = 1000**_i
    _UNITS[_p + "I"] = _UNITS[_p + "IB"] = 1024**_i
MAX_SIZE = 2**60  # 1 EiB: sizes (quotas) above it are refused (PostgreSQL bigint is 2**63-1)
MAX_TTL = 10 * 365 * 86400  # tag_ttl, negative_ttl: at most 10 years of seconds
_DURATION_PART = r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)"
_DURATION_RE = re.compile(rf"^(?:{_DURATION_PART})+$")
_DURATION_PART_RE = re.compile(_DURATION_PART)
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_size(value: object) -> int:
    """Bytes from an int or a string such as ``"10GiB"``, ``"500MB"``, ``"1.5 GiB"``, ``"123"``
    (KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB of 1000), at most ``MAX_SIZE`` (1 EiB).
    Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a size in bytes, such as 10GiB")
    too_big = "at most 1 EiB (1152921504606846976 bytes)"
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        if value > MAX_SIZE:
            raise ValueError(too_big)
        return value
    match = _SIZE_RE.match(value) if isinstance(value, str) and len(value) <= 64 else None
    if match is None:
        shown = value if not isinstance(value, str) or len(value) <= 64 else value[:20] + "..."
        raise ValueError(f"{shown!r} is not a size: use bytes or a unit, e.g. 500MiB or 10GiB")
    unit = (match.group(2) or "").upper()
    number = match.group(1)
    size = int(number) * _UNITS[unit] if number.isdigit() else int(float(number) * _UNITS[unit])
    if size > MAX_SIZE:
        raise ValueError(too_big)
    return size


_SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def format_size(size: int) -> str:
    """``512 B`` or ``10.0 GiB``, for messages and pages. Integer arithmetic, so any int works
    (a float cannot hold a 400-digit number); beyond 10**14 EiB it says "more than"."""
    if size < 1024:
        return f"{size} B"
    for power, unit in enumerate(_SIZE_UNITS, start=1):
        tenths = (size * 10 + 1024**power // 2) // 1024**power  # rounded to 0.1
        if tenths < 10240 or unit == _SIZE_UNITS[-1]:
            if tenths >= 10**15:
                return f"more than {10**14} {unit}"
            return f"{tenths // 10}.{tenths % 10} {unit}"
    raise AssertionError("not reached")  # pragma: no cover


def parse_duration(value: object) -> float:
    """Seconds from a number (of seconds) or a string such as ``"90"``, ``"30s"``, ``"15m"``,
    ``"1h"``, ``"7d"``, ``"2w"`` or a sum such as ``"1d12h"``. The one duration grammar of
    settings and retention policies. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a duration, such as 1h")
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        value = float(value.strip())
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    text = value.strip() if isinstance(value, str) else ""
    if not _DURATION_RE.fullmatch(text):
        raise ValueError(f"{value!r} is not a duration: use seconds or 30s, 15m, 1h, 7d, 1d12h")
    return sum(float(n) * _SECONDS[unit] for n, unit in _DURATION_PART_RE.findall(text))


DEFAULT_GROUPS = ("developers", "testers", "operations", "ci")
ActionName = Literal["read", "annotate", "deploy", "overwrite", "delete", "promote", "manage"]


def virtual_cycle(members: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle among virtual repositories (``members``: each virtual's member keys), as the
    path that closes it (``["docker", "release", "docker"]``), or None."""
    done: set[str] = set()

    def visit(key: str, path: list[str]) -> list[str] | None:
        if key in path:
            return [*path[path.index(key) :], key]
        if key in done or key not in members:
            return None
        for member in members[key]:
            found = visit(member, [*path, key])
            if found:
                return found
        done.add(key)
        return None

    for key in sorted(members):
        found = visit(key, [])
        if found:
            return found
    return None


def upstream_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a remote repository's upstream, or None when it can.

    An upstream is ``http(s)://HOST[:PORT]`` and nothing else: a path, query or fragment would be
    silently ignored by the registry protocol, and credentials in the URL would be shown to every
    reader of the repository's settings (they go in ``upstream_username``/``upstream_password``,
    which are never shown). The URL itself is never echoed, in case it holds a password.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "is not a valid URL; expected http(s)://HOST[:PORT]"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be http(s)://HOST[:PORT], e.g. https://registry-1.docker.io"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return (
            "must not contain credentials (user:password@): set upstream_username and"
            " upstream_password instead, which are stored apart and never shown"
        )
    extra = parts.path not in ("", "/") or parts.query or parts.fragment
    if extra or any(c.isspace() for c in url):
        return (
            "must be http(s)://HOST[:PORT] without a path, query or fragment"
            " (the registry API always lives under /v2/)"
        )
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Strict):
    driver: Literal["filesystem", "memory"] = "filesystem"
    root: Path | None = None


class TlsSettings(_Strict):
    """Built-in TLS: a PEM certificate (chain) and its private key. Both are loaded at start,
    so a wrong path, a key that does not match or a file that is not PEM is refused then."""

    cert: Path
    key: Path

    @model_validator(mode="after")
    def _loadable(self) -> TlsSettings:
        for field, path in (("cert", self.cert), ("key", self.key)):
            if not path.is_file():
                raise ValueError(f"tls.{field}: no such file: {path}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(self.cert, self.key)
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
            raise ValueError(
                f"tls.cert and tls.key cannot be used together: {reason} (both must be PEM,"
                " and the key must be the certificate's)"
            ) from None
        return self


class SmtpSettings(_Strict):
    """The mail server notifications go through (docs/events.md)."""

    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(default="tidegate@localhost", alias="from")
    security: Literal["none", "starttls", "tls"] = "none"
    timeout: float = Field(default=30.0, gt=0, le=600)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", value):
            raise ValueError("must be an email address such as tidegate@example.com")
        return value

    @model_validator(mode="after")
    def _credentials_together(self) -> SmtpSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("smtp.username and smtp.password go together: set both or neither")
        return self


class EventSettings(_Strict):
    """Webhook and email delivery (docs/events.md)."""

    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff: float = Field(default=10.0, gt=0, le=86_400)  # first retry after; doubles
    backoff_max: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    timeout: float = Field(default=10.0, gt=0, le=300)  # one webhook request
    poll_interval: float = Field(default=1.0, gt=0, le=60)  # how often a worker looks
    senders: int = Field(default=4, ge=1, le=64)  # deliveries in flight per process

    @model_validator(mode="after")
    def _backoff_order(self) -> EventSettings:
        if self.backoff_max < self.backoff:
            raise ValueError("events.backoff_max must not be smaller than events.backoff")
        return self


class RepositorySettings(_Strict):
    key: str
    kind: Literal["local", "remote", "virtual"] = "local"
    stage: str | None = None
    protected: bool | None = None  # None: protected when the stage is prod
    allow_push: bool = True
    immutable_tags: bool = False
    allow_sparse: bool = False
    quota: int | None = None  # bytes; "10GiB"-style strings accepted
    gate: dict[str, Any] | None = None
    retention: dict[str, Any] | None = None
    upstream: str | None = None
    upstream_username: str | None = None
    upstream_password: SecretStr | None = None
    library_prefix: bool = True
    tag_ttl: int = Field(default=300, ge=0, le=MAX_TTL)
    offline: bool = False
    negative_ttl: int = Field(default=60, ge=0, le=MAX_TTL)
    upstream_timeout: float = Field(default=30.0, gt=0, le=600)
    members: list[str] = Field(default_factory=list)
    default_deploy: str | None = None

    @field_validator("quota", mode="before")
    @classmethod
    def _quota(cls, value: object) -> int | None:
        return None if value is None else parse_size(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if len(value) > 64 or not REPOSITORY_KEY_RE.fullmatch(value):
            raise ValueError(
                "lower-case letters and digits separated by '.', '_' or '-', at most 64 characters"
            )
        return value


class PermissionTargetSettings(_Strict):
    """A permission target created on first start. Grants name groups (created on first start
    too) or anonymous; users do not exist yet then — grant them later through the API."""

    name: str
    repositories: list[str] = Field(min_length=1)
    include: list[str] = Field(default_factory=lambda: ["**"])
    exclude: list[str] = Field(default_factory=list)
    groups: dict[str, list[ActionName]] = Field(default_factory=dict)
    anonymous: list[ActionName] = Field(default_factory=list)

    @field_validator("anonymous")
    @classmethod
    def _no_anonymous_writes(cls, value: list[str]) -> list[str]:
        extra = [a for a in value if a != "read"]
        if extra:
            raise ValueError(
                f"anonymous may only be granted read; {', '.join(extra)} would let anyone"
                " without credentials change the registry"
            )
        return value


class GcSettings(_Strict):
    """Garbage collection (docs/lifecycle.md): ``grace`` keeps blobs and repository links
    younger than it; ``schedule`` runs GC every so often (off when unset)."""

    grace: float = 3600.0
    schedule: float | None = None

    @field_validator("grace", mode="before")
    @classmethod
    def _grace(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: object) -> float | None:
        if value is None or value == "":
            return None
        seconds = parse_duration(value)
        if seconds < 60:
            raise ValueError("at least 60 seconds (1m) between scheduled runs")
        return seconds


class Settings(_Strict):
    listen: str = "127.0.0.1:5000"
    data_dir: Path = Path("./tidegate-data")
    database_url: str | None = None
    storage: StorageSettings = StorageSettings()
    admin_password: SecretStr | None = None
    default_repository: str = "docker"
    repositories: list[RepositorySettings] | None = None
    workers: int = Field(default=1, ge=1, le=64)
    server: Literal["granian", "uvicorn"] = "granian"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    token_ttl: int = Field(default=900, ge=5, le=86400)
    body_idle_timeout: float = Field(default=60.0, gt=0, le=3600)
    groups: list[str] | None = None  # created on first start; None: the defaults of §3
    permission_targets: list[PermissionTargetSettings] | None = None  # first start; None: §3
    login_failures: int = Field(default=10, ge=1, le=10_000)
    login_failure_window: float = Field(default=60.0, gt=0, le=86_400)
    trash_days: int = Field(default=14, ge=0, le=3650)  # 0: deletions are final at once
    ui_session_hours: int = Field(default=8, ge=1, le=168)  # web UI sign-in lifetime
    public_url: str | None = None  # the URL clients use; events' ``source``
    tls: TlsSettings | None = None
    trusted_proxies: list[str] = Field(default_factory=list)  # CIDRs
    smtp: SmtpSettings | None = None
    events: EventSettings = EventSettings()

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL, for example https://registry.example.com")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must not have credentials, a query or a fragment")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or CIDR network (e.g. 10.0.0.0/8)"
                ) from None
        return value

    gc: GcSettings = GcSettings()
    uploads_max_age: float = 86_400.0  # an upload untouched this long is abandoned (GC)

    @field_validator("uploads_max_age", mode="before")
    @classmethod
    def _uploads_max_age(cls, value: object) -> float:
        seconds = parse_duration(value)
        if seconds < 60:
            raise ValueError("at least 60 seconds (1m): clients pause between chunks")
        return seconds

    @field_validator("default_repository")
    @classmethod
    def _default_repository(cls, value: str) -> str:
        if len(value) > 64 or not REPOSITORY_KEY_RE.fullmatch(value):
            raise ValueError("must be a repository key (lower-case letters, digits, '.', '_', '-')")
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected HOST:PORT, for example 127.0.0.1:5000")
        return value

    @field_validator("admin_password")
    @classmethod
    def _admin_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("must be at least 8 characters")
        if value is not None and value.get_secret_value().startswith("tdg_"):
            raise ValueError("must not start with 'tdg_' (that prefix marks access tokens)")
        return value

    @model_validator(mode="after")
    def _repositories_fit_together(self) -> Settings:
        repos = self.repositories or []
        keys = [r.key for r in repos]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"repositories: duplicate key(s) {', '.join(duplicates)}")
        known = set(keys)
        for r in repos:
            if r.kind == "remote" and not r.upstream:
                raise ValueError(f"repositories: remote repository {r.key!r} needs an upstream")
            problem = upstream_url_problem(r.upstream) if r.upstream else None
            if problem:
                raise ValueError(f"repositories: upstream of {r.key!r} {problem}")
            missing = [m for m in r.members if m not in known]
            if r.kind == "virtual" and missing:
                raise ValueError(
                    f"repositories: virtual repository {r.key!r} lists unknown member(s) "
                    + ", ".join(missing)
                )
            if r.key in r.members:
                raise ValueError(f"repositories: virtual repository {r.key!r} lists itself")
            if r.default_deploy and r.default_deploy not in r.members:
                raise ValueError(
                    f"repositories: default_deploy {r.default_deploy!r} of {r.key!r} is not"
                    " one of its members"
                )
            kinds = {x.key: x.kind for x in repos}
            if r.default_deploy and kinds.get(r.default_deploy) != "local":
                raise ValueError(
                    f"repositories: default_deploy {r.default_deploy!r} of {r.key!r} is a"
                    f" {kinds.get(r.default_deploy)} repository; pushes land in a local one"
                )
        cycle = virtual_cycle({r.key: list(r.members) for r in repos if r.kind == "virtual"})
        if cycle:
            raise ValueError(
                f"repositories: virtual repositories form a cycle: {' -> '.join(cycle)}"
                f" (virtual {cycle[0]!r} would contain itself)"
            )
        self._check_permission_targets()
        return self

    def _check_permission_targets(self) -> None:
        targets = self.permission_targets or []
        names = [t.name for t in targets]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"permission_targets: duplicate name(s) {', '.join(duplicates)}")
        known = set(DEFAULT_GROUPS if self.groups is None else self.groups)
        for target in targets:
            unknown = sorted(set(target.groups) - known)
            if unknown:
                raise ValueError(
                    f"permission_targets: {target.name!r} grants to group(s) not listed in"
                    f" groups: {', '.join(unknown)}"
                )

    def redacted(self) -> dict[str, Any]:
        """The effective settings for display, under the names the file uses (``smtp.from``):
        secrets, and any password in a URL, hidden."""
        data = self.model_dump(mode="json", exclude_none=True, by_alias=True)
        if self.database_url:
            data["database_url"] = re.sub(r"(//[^:/@]*:)[^@]*@", r"\1********@", self.database_url)
        return data

    @property
    def url(self) -> str:
        """Where clients reach the server: ``public_url``, else from ``listen`` and TLS."""
        if self.public_url:
            return self.public_url
        return f"{'https' if self.tls else 'http'}://{self.listen}"

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tidegate.db').resolve()}"

    @property
    def storage_root(self) -> Path:
        return (self.storage.root or self.data_dir / "storage").resolve()


def _format(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"{key}: {item['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the YAML file (if any), overlay the environment, validate. Raises ConfigInvalid."""
    env = os.environ if environ is None else environ
    path = path or env.get("TIDEGATE_CONFIG")
    data: dict[str, Any] = {}
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigInvalid(f"cannot read config file {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigInvalid(f"config file {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigInvalid(f"config file {path} must hold a mapping of settings")
        data.update(loaded)
    for name, key in ENV_KEYS.items():
        if env.get(name):
            section, _, leaf = key.rpartition(".")
            target = data
            if section:
                nested = data.get(section)
                target = data[section] = dict(nested) if isinstance(nested, dict) else {}
            target[leaf] = env[name]
            section, dot, field = key.partition(".")
            if dot:  # a nested setting: gc.grace
                nested = data.get(section)
                data[section] = {**(nested if isinstance(nested, dict) else {}), field: env[name]}
            else:
                data[key] = env[name]
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigInvalid(_format(exc)) from exc
