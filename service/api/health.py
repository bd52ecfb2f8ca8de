"""Probes. ``/livez``: the process answers (restart it if not). ``/readyz``: the lifespan finished loading, at least
one collection loaded, and not shutting down (send traffic only then). ``/healthz``: the older combined view, kept for
existing callers (always 200; ``degraded`` when a collection or index is not served). Both name every collection not
served with a short reason (``errors``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.deps import RegistryDep
from service.errors import request_roots
from service.redact import redact

router = APIRouter(tags=["health"])


def _errors(request: Request, errors: dict[str, str]) -> dict[str, str]:
    """Load errors for public probes: without server paths (the full text is in the log from start-up)."""
    roots = request_roots(request)
    return {name: redact(message, roots) for name, message in errors.items()}


@router.get("/healthz")
async def healthz(registry: RegistryDep, request: Request) -> dict[str, object]:
    return {"status": "degraded" if registry.errors else "ok", "collections": sorted(registry.pipelines),
            "errors": _errors(request, registry.errors)}


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "still loading, no collection loaded, or shutting down"}})
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    if not getattr(state, "ready", False):
        return JSONResponse({"status": "not ready"}, status_code=503)
    if not state.registry.pipelines:
        return JSONResponse({"status": "not ready", "reason": "no collection loaded",
                             "errors": _errors(request, state.registry.errors)},
                            status_code=503)
    cache = state.cache.status() if state.cache is not None else "off"
    body = {"status": "ready", "collections": sorted(state.registry.pipelines),
            "errors": _errors(request, state.registry.errors), "cache": cache}
    return JSONResponse(body)
