"""The management REST API under ``/api/v1`` (FastAPI): users, service accounts, groups, access
tokens, permission targets, the caller's own view (``me``) and the audit log.

Owns: request and response shapes (strict Pydantic models, so the OpenAPI document is complete),
who may call which route (``deps.ACCESS``, the one table), and the JSON error body. Handlers are
thin: parse, one service call in a worker thread, response. Must not import ``tidegate.db``,
``tidegate.storage`` or ``tidegate.blobstore`` (an import contract checks it).
"""
