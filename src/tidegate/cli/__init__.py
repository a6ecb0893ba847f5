"""The ``tidegate`` command: ``serve``, ``config check``, and (later) remote commands over
``/api/v1``. Imports ``app`` to serve; never touches tables or storage directly."""
