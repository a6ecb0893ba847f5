"""``tidegate repo``: repositories (create and delete: admin; update: admin or ``manage`` on
the repository) and the resolution of a virtual repository."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tidegate.cli.client import EXIT_USAGE, CliError, ServerOption, remote
from tidegate.cli.output import JsonOption, done, out, print_json, show_list, show_one

app = typer.Typer(no_args_is_help=True, help="Repositories: local, remote and virtual.")

COLUMNS = ("key", "kind", "stage", "options")

MemberOption = Annotated[
    list[str] | None,
    typer.Option("--member", "-m", help="Member of a virtual repository, in order (repeatable)."),
]
DeployOption = Annotated[
    str | None,
    typer.Option("--default-deploy", help="The local member that receives pushes (virtual)."),
]
UpstreamOption = Annotated[
    str | None, typer.Option("--upstream", help="Upstream registry URL (remote).")
]
UsernameOption = Annotated[
    str | None, typer.Option("--upstream-username", help="Upstream user name (remote).")
]
PasswordOption = Annotated[
    bool,
    typer.Option(
        "--upstream-password-stdin", help="Read the upstream password from stdin (remote)."
    ),
]
StageOption = Annotated[str | None, typer.Option("--stage", help="Stage label: dev, test, ...")]
OptionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        "-o",
        help="Any option as NAME=VALUE, VALUE in JSON (allow_push=false, quota=1000,"
        ' gate=\'{"from":["dev"]}\'); NAME=null removes it (update). Repeatable.',
    ),
]


def _options(
    options: list[str] | None,
    members: list[str] | None,
    default_deploy: str | None,
    upstream: str | None,
    username: str | None,
    password_stdin: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for item in options or []:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise CliError(f"--option {item!r}: expected NAME=VALUE", EXIT_USAGE)
        try:
            body[name] = json.loads(text)
        except ValueError:
            body[name] = text  # a bare word is a string
    if members:
        body["members"] = members
    if default_deploy is not None:
        body["default_deploy"] = default_deploy
    if upstream is not None:
        body["upstream"] = upstream
    if username is not None:
        body["upstream_username"] = username
    if password_stdin:
        body["upstream_password"] = typer.get_text_stream("stdin").read().rstrip("\n")
    return body


@app.command("list")
def list_repositories(server: ServerOption = None, as_json: JsonOption = False) -> None:
    """List repositories."""
    show_list(remote(server).call("GET", "/repositories"), COLUMNS, as_json)


@app.command()
def show(key: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show one repository, with its storage when the caller may see it (admin or manage)."""
    api = remote(server)
    record = api.call("GET", f"/repositories/{key}")
    try:
        usage = api.call("GET", f"/storage/{key}")
    except CliError:
        usage = None  # not allowed to see it: the repository alone
    if usage is not None:
        record["storage"] = {
            "logical_bytes": usage["logical_bytes"],
            "blobs": usage["blobs"],
            "manifests": usage["manifests"],
            "quota": usage["quota"],
            "images": len(usage["images"]),
        }
    show_one(record, as_json)


@app.command()
def create(
    key: str,
    kind: Annotated[str, typer.Option("--kind", "-k", help="local, remote or virtual.")] = "local",
    stage: StageOption = None,
    member: MemberOption = None,
    default_deploy: DeployOption = None,
    upstream: UpstreamOption = None,
    upstream_username: UsernameOption = None,
    upstream_password_stdin: PasswordOption = False,
    option: OptionOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a repository (admin)."""
    body = {"key": key, "kind": kind}
    if stage is not None:
        body["stage"] = stage
    body.update(
        _options(
            option, member, default_deploy, upstream, upstream_username, upstream_password_stdin
        )
    )
    show_one(remote(server).call("POST", "/repositories", body=body), as_json)


@app.command()
def update(
    key: str,
    stage: StageOption = None,
    member: MemberOption = None,
    default_deploy: DeployOption = None,
    upstream: UpstreamOption = None,
    upstream_username: UsernameOption = None,
    upstream_password_stdin: PasswordOption = False,
    option: OptionOption = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change options of a repository (admin, or manage on it). --member replaces the list."""
    body = _options(
        option, member, default_deploy, upstream, upstream_username, upstream_password_stdin
    )
    if stage is not None:
        body["stage"] = stage
    if not body:
        raise CliError("nothing to change: give --option NAME=VALUE or another option", EXIT_USAGE)
    show_one(remote(server).call("PATCH", f"/repositories/{key}", body=body), as_json)


@app.command()
def delete(
    key: str,
    force: Annotated[
        bool, typer.Option("--force", help="Also when it holds images (they go with it).")
    ] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a repository (admin)."""
    params = {"force": "true"} if force else None
    remote(server).call("DELETE", f"/repositories/{key}", params=params)
    done(f"deleted repository {key}", as_json, deleted=key)


@app.command()
def resolve(
    key: str,
    image: str,
    reference: str,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Explain which member of a virtual repository serves IMAGE:REFERENCE, and why."""
    answer = remote(server).call(
        "GET", f"/repositories/{key}/resolve", params={"image": image, "reference": reference}
    )
    if as_json:
        print_json(answer)
        return
    show_list(answer["members"], ("member", "kind", "readable", "outcome", "digest"), False)
    served = answer.get("served_by")
    if served:
        out.print(f"served by {served}: {answer.get('digest')}", markup=False, highlight=False)
    else:
        out.print(f"no member serves {image}:{reference}", markup=False, highlight=False)
