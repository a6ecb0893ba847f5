"""``tidegate gc`` (admin): start a garbage collection, optionally follow it with a progress
bar; ``tidegate storage``: deduplicated bytes on disk and logical bytes per repository (or,
with a key, per image). docs/lifecycle.md."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from tidegate.cli.client import EXIT_SERVER, CliError, Remote, ServerOption, remote
from tidegate.cli.output import JsonOption, err, out, print_json, show_list, show_one
from tidegate.config import format_size

POLL_SECONDS = 0.5
PHASES = {
    "uploads": "purging abandoned uploads",
    "links": "removing dangling links",
    "blobs": "deleting unreferenced blobs",
    "manifests": "deleting unreferenced manifest bytes",
    "done": "done",
}


def _wait(api: Remote, job: dict[str, Any], show_progress: bool) -> dict[str, Any]:
    """Poll the job until it ends; a Rich progress bar fed from its progress on a terminal."""
    url = job["url"].removeprefix("/api/v1")
    if not show_progress:
        while job["state"] in ("queued", "running"):
            time.sleep(POLL_SECONDS)
            job = api.call("GET", url)
        return job
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("starting", total=None)
        while True:
            p = job.get("progress") or {}
            phase = str(p.get("phase", "starting"))
            step = f"[{p.get('step', '?')}/{p.get('phases', 4)}] " if "step" in p else ""
            total = p.get("total")
            progress.update(
                task,
                description=step + PHASES.get(phase, phase),
                completed=p.get("done", 0) or 0,
                total=total if total else None,
            )
            if job["state"] not in ("queued", "running"):
                return job
            time.sleep(POLL_SECONDS)
            job = api.call("GET", url)


def _report(job: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(job)
        return
    if job["state"] != "succeeded":
        raise CliError(
            f"garbage collection {job['id']} {job['state']}: {job.get('error')}", EXIT_SERVER
        )
    r = job["result"] or {}
    would = "would remove" if r.get("dry_run") else "removed"
    out.print(
        f"garbage collection {job['id']} ({'dry run, ' if r.get('dry_run') else ''}"
        f"grace {r.get('grace', 0):g}s): {would} {r.get('blobs_removed', 0)} blobs"
        f" and {r.get('orphan_files_removed', 0)} files without a row"
        f" ({format_size(int(r.get('bytes_freed', 0)))}), {r.get('links_removed', 0)} dangling"
        f" links, {r.get('uploads_purged', 0)} abandoned uploads,"
        f" {r.get('manifest_contents_removed', 0)} unreferenced manifests"
        f" in {r.get('duration', 0):.1f}s",
        markup=False,
        highlight=False,
    )


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be removed; change nothing.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the run (progress bar) and print its result.")
    ] = False,
    grace: Annotated[
        str | None,
        typer.Option(
            "--grace", help="Keep what is younger than this (1h, 30m, 0); default gc.grace."
        ),
    ] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Garbage collection, online (admin): removes blobs no manifest references, dangling
    links and abandoned uploads. A dry run always waits and reports what it would remove."""
    api = remote(server)
    body: dict[str, Any] = {"dry_run": dry_run}
    if grace is not None:
        body["grace"] = grace
    job = api.call("POST", "/gc", body=body)
    if not (wait or dry_run):
        if as_json:
            print_json(job)
        else:
            out.print(
                f"garbage collection started: job {job['id']} (follow it with"
                f" `tidegate job {job['id']}`)",
                markup=False,
                highlight=False,
            )
        return
    _report(_wait(api, job, not as_json and err.is_terminal), as_json)


def job(job_id: str, server: ServerOption = None, as_json: JsonOption = False) -> None:
    """Show a job: state, progress, result (admin)."""
    show_one(remote(server).call("GET", f"/jobs/{job_id}"), as_json)


def storage(
    key: Annotated[str | None, typer.Argument(help="A repository: its images.")] = None,
    server: ServerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Storage: bytes on disk (deduplicated) and logical bytes per repository (admin), or per
    image of one repository (admin, or manage on it)."""
    api = remote(server)
    if key is not None:
        answer = api.call("GET", f"/storage/{key}")
        if as_json:
            print_json(answer)
            return
        head = {k: v for k, v in answer.items() if k != "images"}
        show_one(_sized(head), False)
        show_list([_sized(i) for i in answer["images"]], IMAGE_COLUMNS, False)
        return
    answer = api.call("GET", "/storage")
    if as_json:
        print_json(answer)
        return
    disk = answer["on_disk"]
    out.print(
        f"on disk: {disk['blobs']} blobs, {format_size(disk['blob_bytes'])}"
        f" + {disk['manifests']} manifests, {format_size(disk['manifest_bytes'])}"
        f" = {format_size(disk['bytes'])} (deduplicated)",
        markup=False,
        highlight=False,
    )
    show_list([_sized(r) for r in answer["repositories"]], REPO_COLUMNS, False)


REPO_COLUMNS = ("repository", "blobs", "manifests", "logical", "quota")
IMAGE_COLUMNS = ("image", "blobs", "manifests", "logical")


def _sized(row: dict[str, Any]) -> dict[str, Any]:
    shown = dict(row)
    shown["logical"] = format_size(int(row.get("logical_bytes", 0)))
    if row.get("quota") is not None:
        shown["quota"] = format_size(int(row["quota"]))
    return shown
