"""Thin wrappers that put the flags that work on these machines in front of each client."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ._cmd import DEFAULT_TIMEOUT, run, run_bytes
from ._oci import Json, sha256_digest

Proc = subprocess.CompletedProcess[str]

POLICY_JSON = '{"default": [{"type": "insecureAcceptAnything"}]}\n'


def write_containers_config(directory: Path, registry_host: str) -> tuple[Path, Path]:
    """A private registries.conf (the registry is plain HTTP) and signature policy; both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    registries = directory / "registries.conf"
    registries.write_text(
        "unqualified-search-registries = []\n\n"
        "[[registry]]\n"
        f'location = "{registry_host}"\n'
        "insecure = true\n"
    )
    policy = directory / "policy.json"
    policy.write_text(POLICY_JSON)
    return registries, policy


def empty_authfile(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"auths": {}}\n')
    return path


@dataclass
class ContainersEnv:
    """Settings shared by the containers/image clients (skopeo, podman, buildah)."""

    registries_conf: Path
    policy: Path
    tmpdir: Path

    @property
    def env(self) -> dict[str, str]:
        return {"CONTAINERS_REGISTRIES_CONF": str(self.registries_conf), "TMPDIR": str(self.tmpdir)}

    def with_policy(self, args: tuple[str | Path, ...]) -> list[str | Path]:
        """podman/buildah `pull|push|from` args with our signature policy, not the machine's."""
        if args and args[0] in ("pull", "push", "from"):
            return [args[0], "--signature-policy", self.policy, *args[1:]]
        return list(args)


@dataclass
class Skopeo:
    cenv: ContainersEnv
    authfile: Path

    def __call__(
        self, *args: str | Path, check: bool = True, timeout: float = DEFAULT_TIMEOUT
    ) -> Proc:
        return run(
            ["skopeo", "--policy", self.cenv.policy, *args],
            env=self.cenv.env,
            check=check,
            timeout=timeout,
        )

    def copy(self, src: str, dst: str, *extra: str) -> Proc:
        return self(
            "copy", "--authfile", self.authfile,
            "--src-tls-verify=false", "--dest-tls-verify=false", *extra, src, dst,
        )  # fmt: skip

    def inspect_raw(self, ref: str) -> bytes:
        return run_bytes(
            ["skopeo", "--policy", self.cenv.policy, "inspect", "--raw", "--tls-verify=false",
             "--authfile", self.authfile, ref],
            env=self.cenv.env,
        )  # fmt: skip

    def raw_digest(self, ref: str) -> str:
        return sha256_digest(self.inspect_raw(ref))

    def inspect(self, ref: str, *extra: str) -> Json:
        proc = self("inspect", "--tls-verify=false", "--authfile", self.authfile, *extra, ref)
        data: Json = json.loads(proc.stdout)
        return data

    def list_tags(self, ref: str) -> list[str]:
        proc = self("list-tags", "--tls-verify=false", "--authfile", self.authfile, ref)
        tags: list[str] = json.loads(proc.stdout).get("Tags") or []
        return tags

    def delete(self, ref: str) -> Proc:
        return self("delete", "--tls-verify=false", "--authfile", self.authfile, ref)

    def login(
        self, host: str, username: str, password: str, authfile: Path, check: bool = True
    ) -> Proc:
        return run(
            ["skopeo", "login", "--tls-verify=false", "--authfile", authfile,
             "--username", username, "--password-stdin", host],
            env=self.cenv.env, input=password + "\n", check=check,
        )  # fmt: skip


@dataclass
class Podman:
    cenv: ContainersEnv
    workdir: Path  # storage and files of the test
    rundir: Path  # short path: podman refuses a runroot of 50 characters or more
    argv: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.argv = [
            "podman",
            "--root", str(self.workdir / "root"),
            "--runroot", str(self.rundir / "run"),
            "--tmpdir", str(self.rundir / "tmp"),
            "--storage-driver", "vfs",
            "--events-backend", "file",
            "--cgroup-manager", "cgroupfs",
        ]  # fmt: skip

    def __call__(
        self,
        *args: str | Path,
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        input: str | None = None,
    ) -> Proc:
        argv = [*self.argv, *self.cenv.with_policy(args)]
        return run(argv, env=self.cenv.env, check=check, timeout=timeout, input=input)


@dataclass
class Buildah:
    cenv: ContainersEnv
    workdir: Path
    argv: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.argv = [
            "buildah",
            "--root", str(self.workdir / "root"),
            "--runroot", str(self.workdir / "run"),
            "--storage-driver", "vfs",
        ]  # fmt: skip

    def __call__(
        self, *args: str | Path, check: bool = True, timeout: float = DEFAULT_TIMEOUT
    ) -> Proc:
        argv = [*self.argv, *self.cenv.with_policy(args)]
        return run(argv, env=self.cenv.env, check=check, timeout=timeout)

    def out(self, *args: str | Path) -> str:
        """stdout of a buildah command, stripped (e.g. a container name from `from`)."""
        return self(*args).stdout.strip()


@dataclass
class Ctr:
    socket: Path
    namespace: str = "tidegate"

    def __call__(
        self, *args: str | Path, check: bool = True, timeout: float = DEFAULT_TIMEOUT
    ) -> Proc:
        argv = ["ctr", "-a", str(self.socket), "--connect-timeout", "5s", "-n", self.namespace]
        return run([*argv, *args], check=check, timeout=timeout)

    def image_digest(self, ref: str) -> str | None:
        """Target digest of `ref` in containerd's image store (`ctr images ls`)."""
        for line in self("images", "ls").stdout.splitlines()[1:]:
            cols = line.split()
            if cols and cols[0] == ref:
                return cols[2]
        return None


@dataclass
class Docker:
    socket: Path
    config_dir: Path

    def __call__(
        self,
        *args: str | Path,
        check: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        input: str | None = None,
    ) -> Proc:
        return run(
            ["docker", "-H", f"unix://{self.socket}", *args],
            env={"DOCKER_CONFIG": str(self.config_dir)},
            check=check,
            timeout=timeout,
            input=input,
        )
