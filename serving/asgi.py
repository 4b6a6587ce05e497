"""Entry point for ASGI servers: ``uvicorn serving.asgi:create --factory``.

Settings come from the environment (``TALENTCAST_*``) when the server process calls
:func:`create`, so every worker process builds its own app, store connection and cache. Only
server processes come through here (tests build apps with ``create_app``).
"""

from __future__ import annotations

import gc

from fastapi import FastAPI

from serving.app import create_app
from serving.settings import Settings


def create() -> FastAPI:
    app = create_app(Settings())
    # The start-up heap (libraries, the app) lives as long as the process: frozen, the
    # collector stops rescanning it, which otherwise stalled every request in flight for
    # 80-125 ms about once a second under load.
    gc.collect()
    gc.freeze()
    return app
