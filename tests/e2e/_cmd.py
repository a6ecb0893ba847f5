"""Run external client commands with a timeout, captured output and diagnosable failures."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_TIMEOUT = 300.0
# what clients print when the registry refuses credentials
AUTH_ERROR = re.compile(
    r"unauthori[sz]ed|authentication required|invalid username/password|\b401\b|\bdenied\b"
    r"|no basic auth credentials",
    re.IGNORECASE,
)
_TAIL = 4000


def tail(text: str, limit: int = _TAIL) -> str:
    """The last `limit` characters of `text` (with a marker when cut)."""
    return text if len(text) <= limit else "...[cut]...\n" + text[-limit:]


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    """A multi-line description of a finished command for assertion messages."""
    args = " ".join(str(a) for a in proc.args)
    return (
        f"command: {args}\nexit status: {proc.returncode}\n"
        f"--- stdout ---\n{tail(proc.stdout or '')}\n--- stderr ---\n{tail(proc.stderr or '')}"
    )


class CommandFailed(AssertionError):
    """A client command exited non-zero (or timed out); the message holds its output."""

    def __init__(self, message: str, proc: subprocess.CompletedProcess[str] | None = None):
        super().__init__(message)
        self.proc = proc


def run(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    input: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `args`, capture stdout/stderr as text, raise CommandFailed on failure when `check`.

    `env` entries are added to (and override) the current environment.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    argv = [str(a) for a in args]
    try:
        proc = subprocess.run(
            argv,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        raise CommandFailed(
            f"command timed out after {timeout:.0f}s: {' '.join(argv)}\n"
            f"--- stdout ---\n{tail(out)}\n--- stderr ---\n{tail(err)}"
        ) from None
    if check and proc.returncode != 0:
        raise CommandFailed(describe(proc), proc)
    return proc


def run_fails(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command that is expected to fail; raise if it succeeds."""
    proc = run(args, env=env, timeout=timeout, check=False, input=input)
    if proc.returncode == 0:
        raise AssertionError("command was expected to fail but succeeded\n" + describe(proc))
    return proc


def run_bytes(
    args: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> bytes:
    """Run `args` and return its stdout as exact bytes (e.g. a raw manifest); raise on failure."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    argv = [str(a) for a in args]
    try:
        proc = subprocess.run(
            argv, env=full_env, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"command timed out after {timeout:.0f}s: {' '.join(argv)}") from None
    if proc.returncode != 0:
        text = subprocess.CompletedProcess(
            argv,
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )
        raise CommandFailed(describe(text), text)
    return proc.stdout
