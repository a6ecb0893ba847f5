"""The ``tidegate`` command: ``serve``, ``config check``, and the remote commands (``login``,
``user``, ``sa``, ``group``, ``token``, ``perm``) that speak JSON to ``/api/v1`` through
``client.py``. Imports ``app`` to serve; never touches tables or storage directly, and the
remote commands import nothing of the server (they must start fast and stay small)."""
