"""uvicorn's h11 protocol with TCP_NODELAY on every accepted connection.

With ``--workers`` > 1 uvicorn binds one shared listening socket whose protocol number is 0, and
asyncio sets TCP_NODELAY only on sockets it knows to be TCP: each answer's body then waits for
the client's delayed ACK, about 40 ms on every keep-alive request (uvicorn issue #3149).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    """The h11 protocol, with Nagle's algorithm off for the connection it serves."""

    def connection_made(self, transport: Any) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
