"""A real creditkit server in a thread of this process, for tests of code that uses
``Client`` (yours and creditkit's): real HTTP on a free port of 127.0.0.1.

    with serve_in_thread(create_app(kit)) as base_url:
        client = Client(base_url, secret)
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

#: How long stopping may take before the (daemon) thread is left to die with the process.
SHUTDOWN_SECONDS_MAX = 5.0


@contextmanager
def serve_in_thread(app: ASGIApp) -> Iterator[str]:
    """Serves ``app`` until the block ends; yields its base URL."""
    # Listening before uvicorn starts: the first requests wait in the socket's backlog until
    # the server accepts them, so nobody polls for readiness.
    listener = socket.create_server(("127.0.0.1", 0))
    # Connections accepted from a socket handed to uvicorn inherit its options, and without
    # TCP_NODELAY a response's body waits for the ACK of its headers: ~40 ms a request.
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name=f"creditkit:{port}", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_SECONDS_MAX)
        listener.close()
