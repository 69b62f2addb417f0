"""The peer of bench/pages.py and bench/idle.py: one bare FastAPI route, no database, no
templates, served by the same server code and settings as hameau."""

from __future__ import annotations

import sys
import time

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

app = FastAPI()
PAGE = "<!doctype html><html><body>" + "<p>hameau</p>" * 150 + "</body></html>"


@app.get("/")
def home() -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.get("/spin")
async def spin(ms: float = 1.0) -> HTMLResponse:
    """The same page after spending ``ms`` of CPU: a route as costly as hameau's, with none
    of its work, to tell what the server does at saturation from what hameau does."""
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass
    return HTMLResponse(PAGE)


@app.get("/healthz")
def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


if __name__ == "__main__":
    import uvicorn

    port = int(sys.argv[sys.argv.index("--port") + 1])
    if "--stock" in sys.argv:  # uvicorn as shipped, waking every 0.1 s
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    else:
        from hameau.node.serve import listen_on, serve

        serve(app, listen_on("127.0.0.1", port))
