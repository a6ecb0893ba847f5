"""``tidegate cleanup``: plan a cleanup of a repository, show and list plans, apply one.

Exit codes (docs/lifecycle.md): ``plan`` exits 0 whether or not there is anything to delete
(a plan with no items is a successful answer; scripts read ``count`` with ``--json``).
``apply`` exits 0 when every item was deleted, ``EXIT_REFUSED`` (8) when some items were
refused because their state changed since planning (the others were deleted), and the usual
codes otherwise: 3 not allowed, 4 no such plan, 5 already applied or expired, 6 the server
could not be reached.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from tidegate.cli.client import EXIT_USAGE, CliError, ServerOption, remote
from tidegate.cli.output import JsonOption, err, out, print_json, show_list, show_one

app = typer.Typer(no_args_is_help=True, help="Plan, then apply, a cleanup of a repository.")

EXIT_REFUSED = 8  # apply: some items were refused (their state changed since planning)
MANY = 20  # from this many items, apply shows progress while the server works

ITEM_COLUMNS = ("n", "image", "tag", "digest", "reason", "bytes_freed")
REFUSED_COLUMNS = ("image", "tag", "digest", "reason")
PLAN_COLUMNS = ("id", "repository", "state", "count", "refused_count", "bytes_freed", "actor")


def read_policy(path: Path) -> dict[str, Any]:
    """A policy file (YAML or JSON): ``{rules: [...], untagged_older_than}``, the same under a
    top-level ``retention:`` key (as the policy is written in the config file and in
    docs/lifecycle.md), or just the list of rules."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
    except yaml.YAMLError as exc:
        raise CliError(f"{path} is not valid YAML or JSON: {exc}", EXIT_USAGE) from None
    if isinstance(data, dict) and set(data) == {"retention"}:
        data = data["retention"]
    if isinstance(data, list):
        data = {"rules": data}
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold a policy {{rules: [...]}} or a list of rules", EXIT_USAGE)
    return data


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _short(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        digest = str(item.get("digest") or "")
        row = {**item, "digest": digest[:19] + "…" if len(digest) > 20 else digest}
        if item.get("kind") == "manifest":
            row["tag"] = ", ".join(item.get("tags") or []) or "(untagged)"
        if "bytes_freed" in item:
            row["bytes_freed"] = size(int(item["bytes_freed"] or 0))
        rows.append(row)
    return rows


def show_plan(plan: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(plan)
        return
    items = plan.get("items") or []
    refused = plan.get("refused") or []
    if items:
        show_list(_short(items), ITEM_COLUMNS, False)
    if refused:
        out.print(f"\nkept ({len(refused)}):", markup=False, highlight=False)
        show_list(_short(refused), REFUSED_COLUMNS, False)
    manifests = sum(1 for i in items if i.get("kind") == "manifest")
    out.print(
        f"\nplan {plan['id']} ({plan['state']}) for {plan['repository']}: {len(items)} items"
        f" ({manifests} manifests, {len(items) - manifests} tags only), frees"
        f" {size(int(plan.get('bytes_freed') or 0))}, {len(refused)} kept;"
        f" expires {str(plan['expires_at'])[:16]}",
        markup=False,
        highlight=False,
    )
    if plan["state"] == "planned" and items:
        out.print(f"apply with: tidegate cleanup apply {plan['id']}", markup=False)


@app.command()
def plan(
    repo: str,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="Policy file (YAML/JSON); default: the repository's."),
    ] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store a plan of what the policy deletes in REPO now (deletes nothing)."""
    body: dict[str, Any] = {"repo": repo}
    if rules is not None:
        policy = read_policy(rules)
        unknown = sorted(set(policy) - {"rules", "untagged_older_than", "schedule"})
        if unknown:
            raise CliError(f"{rules}: unknown field(s) {', '.join(unknown)}", EXIT_USAGE)
        body["rules"] = policy.get("rules") or []
        if policy.get("untagged_older_than") is not None:
            body["untagged_older_than"] = policy["untagged_older_than"]
    show_plan(remote(server).call("POST", "/cleanup/plans", body=body), as_json)


@app.command()
def show(plan_id: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show a plan with its items."""
    show_plan(remote(server).call("GET", f"/cleanup/plans/{plan_id}"), as_json)


@app.command("list")
def list_plans(
    repo: Annotated[str | None, typer.Option("--repo", help="Only this repository.")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """List plans, newest first."""
    params = {"repo": repo} if repo else None
    rows = remote(server).call("GET", "/cleanup/plans", params=params)
    if not as_json:
        rows = [{**r, "bytes_freed": size(int(r.get("bytes_freed") or 0))} for r in rows]
    show_list(rows, PLAN_COLUMNS, as_json)


@app.command()
def apply(plan_id: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Execute exactly the plan: each item deleted (into the trash) unless its state changed
    since planning. Exit code 8 when some items were refused."""
    client = remote(server)
    client.timeout = 3600
    if as_json:
        result = client.call("POST", f"/cleanup/plans/{plan_id}/apply")
    else:
        count = int(client.call("GET", f"/cleanup/plans/{plan_id}").get("count") or 0)
        if count >= MANY:
            with err.status(f"applying {count} items of plan {plan_id}…"):
                result = client.call("POST", f"/cleanup/plans/{plan_id}/apply")
        else:
            result = client.call("POST", f"/cleanup/plans/{plan_id}/apply")
    applied, refused = result.get("applied") or [], result.get("refused") or []
    if as_json:
        print_json(result)
    else:
        if applied:
            show_list(_short(applied), ("n", "image", "tag", "digest", "bytes_freed"), False)
        if refused:
            out.print(f"\nrefused ({len(refused)}):", markup=False)
            show_list(_short(refused), REFUSED_COLUMNS, False)
        out.print(
            f"\napplied {len(applied)} items (into the trash: `tidegate trash list`), refused"
            f" {len(refused)}; frees {size(int(result.get('bytes_freed') or 0))} once the trash"
            " entries expire and garbage collection runs",
            markup=False,
            highlight=False,
        )
    if refused:
        raise CliError(
            f"{len(refused)} item(s) of plan {plan_id} changed since planning and were kept",
            EXIT_REFUSED,
        )


def _json_text(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CliError(f"--json-policy is not JSON: {exc}", EXIT_USAGE) from None
    if not isinstance(data, dict):
        raise CliError("--json-policy must be a JSON object {rules: [...]}", EXIT_USAGE)
    return data


def retention(
    key: Annotated[str, typer.Argument(help="Repository key.")],
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Set the policy from a YAML/JSON file.")
    ] = None,
    json_policy: Annotated[
        str | None, typer.Option("--json-policy", help="Set the policy from JSON text.")
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the policy.")] = False,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the retention policy of a repository, or set (--file, --json-policy) or remove it
    (needs manage)."""
    if sum((file is not None, json_policy is not None, remove)) > 1:
        raise CliError("give one of --file, --json-policy, --remove", EXIT_USAGE)
    client = remote(server)
    path = f"/repositories/{key}/retention"
    if remove:
        client.call("DELETE", path)
        if as_json:
            print_json({"ok": True, "removed": key})
        else:
            out.print(f"removed the retention policy of {key}", markup=False)
        return
    if file is not None or json_policy is not None:
        policy = read_policy(file) if file is not None else _json_text(str(json_policy))
        answer = client.call("PUT", path, body=policy)
    else:
        answer = client.call("GET", path)
    if as_json:
        print_json(answer)
        return
    rules = answer.get("rules") or []
    if rules:
        show_list(rules, ("tags", "keep_last", "older_than", "where", "protect"), False)
    show_one({k: v for k, v in answer.items() if k != "rules"}, False)
