"""The playground's web server: the page, its scripts and styles, and the JSON API (Starlette under uvicorn).

Routes: ``/`` (the page), ``/static/...`` (its files, all served from the package: the page loads nothing
from anywhere else, and its Content-Security-Policy says so), ``/api/catalogue``, ``/api/function``,
``/api/trace``, ``/api/stability``, ``/api/schedule`` (see :mod:`descend.lab.playground.api`). A bad
request is answered with status 400 (404 for an unknown route) and ``{"error": "<one line>"}``, never a
traceback.

>>> from descend.lab.playground.server import app
>>> sorted(r.path for r in app.routes)[:3]
['/', '/api/catalogue', '/api/function']
"""

from __future__ import annotations

import logging
import socket
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from descend.lab.playground import api

__all__ = ["app", "bind", "serve"]

STATIC = Path(__file__).parent / "static"
_log = logging.getLogger("descend.playground")

# Scripts, styles, images and requests from this server only.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _query(request: Request, *names: str, required: tuple[str, ...] = ()) -> list[str | None]:
    q = request.query_params
    for name in required:
        if not q.get(name):
            raise ValueError(f"Missing {name}: expected {name}=... in the query")
    unexpected = sorted(set(q) - set(names))
    if unexpected:
        raise ValueError(f"Invalid query parameter {unexpected[0]!r}; expected {', '.join(names)}")
    return [q.get(n) for n in names]


def _endpoint(work: Callable[[Request], dict[str, Any]]) -> Callable[[Request], Response]:
    """A JSON endpoint: the answer, or a one-line error (400 for a bad request, 500 for a failure)."""

    def handle(request: Request) -> Response:
        try:
            return JSONResponse(work(request), headers=_HEADERS)
        except (ValueError, TypeError) as e:
            return JSONResponse({"error": str(e).splitlines()[0]}, status_code=400, headers=_HEADERS)
        except Exception as e:  # a failure inside a run: said in one line, logged in full
            _log.exception("failed: %s", request.url)
            message = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no message'}"
            return JSONResponse({"error": message}, status_code=500, headers=_HEADERS)

    return handle


def _catalogue(request: Request) -> dict[str, Any]:
    _query(request)
    return api.catalogue()


def _function(request: Request) -> dict[str, Any]:
    (name,) = _query(request, "name", required=("name",))
    return api.landscape(name)


def _trace(request: Request) -> dict[str, Any]:
    names = ("function", "optimizer", "steps", "start", "schedule")
    return api.trace(*_query(request, *names, required=("function", "optimizer")))


def _stability(request: Request) -> dict[str, Any]:
    return api.stability(*_query(request, "function", "steps", "start", required=("function",)))


def _schedule(request: Request) -> dict[str, Any]:
    return api.schedule(*_query(request, "schedule", "steps", required=("schedule",)))


def _page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=_HEADERS)


async def _not_found(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": f"{exc.detail}: {request.url.path}"}, status_code=exc.status_code)


app = Starlette(
    routes=[
        Route("/", _page),
        Route("/api/catalogue", _endpoint(_catalogue)),
        Route("/api/function", _endpoint(_function)),
        Route("/api/trace", _endpoint(_trace)),
        Route("/api/stability", _endpoint(_stability)),
        Route("/api/schedule", _endpoint(_schedule)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ],
    exception_handlers={HTTPException: _not_found},
)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), or an ``OSError`` saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(
    sock: socket.socket, *, open_browser: bool = True, ready: Callable[[str], None] | None = None
) -> None:
    """Serve the playground on a bound socket until Ctrl-C (uvicorn stops cleanly on SIGINT/SIGTERM);
    ``ready(url)`` is called once it listens, and the page opens in the browser unless told not to."""
    import torch
    import uvicorn

    torch.set_num_threads(1)  # tiny tensors: threads would only contend; requests run side by side instead
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    url = url_of(sock)

    def announce() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            if ready is not None:
                ready(url)
            if open_browser:
                webbrowser.open(url)

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])
