"""Reading a secret: from stdin (``--password-stdin``, for scripts) or from a hidden prompt.

Owns the one rule for passwords on the command line: never a flag value (it would land in shell
history and in ``ps``).
"""

from __future__ import annotations

import sys

import typer

from tidegate.cli.client import EXIT_USAGE, CliError


def read_password(
    from_stdin: bool, prompt: str = "Password", confirm: bool = False, what: str = "password"
) -> str:
    """One line of stdin (without its newline), or a hidden prompt (typed twice if
    ``confirm``). An empty one is a usage error naming ``what`` was read."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))
    if not password:
        raise CliError(f"the {what} is empty", EXIT_USAGE)
    return password
