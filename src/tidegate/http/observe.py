"""Around every HTTP request: the request id, trusted-proxy headers, and request metrics.

- Request id: ``<process prefix>-<counter>`` (unique per deployment without a random draw per
  request), bound to the logging context (``tidegate.logging.REQUEST_ID``) and sent back as
  ``X-Request-Id``.
- ``X-Forwarded-For``, ``-Proto`` and ``-Host`` are honoured only when the peer is one of
  ``trusted_proxies``: then the client address (audit, login throttling), the scheme and the
  host (token realm, Location) are the forwarded ones. From anyone else they are ignored.
- Metrics: by route template (``/v2/{name}/manifests/{reference}``, the management API's
  route path), method and status; body bytes in and out. ``/v2`` sets the template in the
  scope (``ROUTE_KEY``); other apps leave Starlette's ``route`` there.

Cost on the ``/v2`` manifest GET path: one closure for ``send``, a header scan of the response
start, two counter increments (see docs/events.md for the measured figure).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from tidegate.logging import REQUEST_ID
from tidegate.services.metrics import Metrics

ROUTE_KEY = "tidegate.route"
_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"})
_NO_BODY = frozenset({"GET", "HEAD"})
_CACHE_MAX = 4096


class TrustedProxies:
    def __init__(self, cidrs: list[str]) -> None:
        self._networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self._known: dict[str, bool] = {}

    def trusts(self, address: str) -> bool:
        known = self._known.get(address)
        if known is None:
            try:
                ip = ipaddress.ip_address(address)
                known = any(ip in n for n in self._networks)
            except ValueError:
                known = False
            if len(self._known) >= _CACHE_MAX:
                self._known.clear()
            self._known[address] = known
        return known

    def apply(self, scope: MutableMapping[str, Any]) -> None:
        """Rewrite client, scheme and Host from the forwarded headers of a trusted peer."""
        client = scope.get("client")
        if not client or not self.trusts(client[0]):
            return
        forwarded_for = proto = host = None
        for key, value in scope["headers"]:
            if key == b"x-forwarded-for":
                forwarded_for = value.decode("latin-1")
            elif key == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[0].strip().lower()
            elif key == b"x-forwarded-host":
                host = value.split(b",")[0].strip()
        if forwarded_for:
            # the nearest address that is not one of our proxies is the client
            hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
            for hop in reversed(hops):
                if not self.trusts(hop):
                    scope["client"] = (hop, 0)
                    break
            else:
                if hops:
                    scope["client"] = (hops[0], 0)
        if proto in ("http", "https"):
            scope["scheme"] = proto
        if host:
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [
                (b"host", host)
            ]


def _route_of(scope: Scope) -> str:
    label = scope.get(ROUTE_KEY)
    if label is not None:
        return str(label)
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "other"


def observed(
    app: Callable[[Scope, Receive, Send], Awaitable[None]],
    metrics: Metrics,
    proxies: TrustedProxies | None,
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """``app`` with request ids, trusted-proxy headers and request metrics around it. A plain
    ``async def`` (not an object with ``__call__``): servers call it the fastest way."""
    prefix = f"{os.getpid():x}{os.urandom(3).hex()}-"
    counter = itertools.count(1)
    observe = metrics.observe

    async def observed_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if proxies is not None:
            proxies.apply(scope)
        request_id = f"{prefix}{next(counter)}"
        token = REQUEST_ID.set(request_id)
        # status, bytes out, Content-Length seen, bytes in
        state = [0, 0, False, 0]

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state[0] = message["status"]
                headers = message.get("headers")
                headers = [] if headers is None else list(headers)
                for key, value in headers:
                    if key == b"content-length":
                        state[1] = int(value)
                        state[2] = True
                        break
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            elif not state[2] and message["type"] == "http.response.body":
                state[1] += len(message.get("body", b""))
            await send(message)

        method: str = scope["method"]
        counted_receive = receive
        if method not in _NO_BODY:

            async def counted_receive() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    state[3] += len(message.get("body", b""))
                return message

        try:
            await app(scope, counted_receive, observed_send)
        finally:
            REQUEST_ID.reset(token)
            observe(
                _route_of(scope),
                method if method in _METHODS else "OTHER",
                state[0] or 500,
                state[3],
                state[1],
            )

    return observed_app
