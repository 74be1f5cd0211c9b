"""The request body limit: a body larger than ``body_bytes_max`` is refused with 413
problem+json before more of it is read, whether it says its length (``Content-Length``) or
streams in chunks. Headers are bounded by the server (uvicorn's h11: 16 KiB of request line and
headers together), and every page and route bounds its own fields besides."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from creditkit.api.problems import problem_response

BODY_BYTES_MAX_DEFAULT = 1024 * 1024
#: The range a setting may choose: room for the largest batch, and no more than 64 MiB.
BODY_BYTES_MAX_LEAST = 16 * 1024
BODY_BYTES_MAX_MOST = 64 * 1024 * 1024


class _BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware refusing request bodies above ``bytes_max``."""

    def __init__(self, app: ASGIApp, bytes_max: int = BODY_BYTES_MAX_DEFAULT) -> None:
        self._app = app
        self._bytes_max = bytes_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self._bytes_max:
                    await self._refuse(scope, receive, send)
                    return
        received = 0
        too_large = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._bytes_max:
                    too_large = True
                    raise _BodyTooLarge()
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal refused
            # A body parser may turn the refusal into its own error response: the 413 is
            # answered instead of it.
            if too_large:
                if not refused:
                    refused = True
                    await self._refuse(scope, receive, send)
                return
            await send(message)

        try:
            await self._app(scope, limited_receive, tracked_send)
        except _BodyTooLarge:
            if not refused:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            "body_too_large",
            f"the request body is larger than {self._bytes_max} bytes",
            body_bytes_max=self._bytes_max,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
