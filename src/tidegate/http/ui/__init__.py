"""The web UI at ``/ui``: server-rendered pages (Jinja2, a little JavaScript of our own) that are a
client of ``/api/v1`` and ``/v2`` like the CLI is, called in-process with the signed-in user's
own access token (docs/ui.md). No page reads the database or a service directly."""
