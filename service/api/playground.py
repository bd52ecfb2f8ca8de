"""``GET /playground``: a one-page search UI over this server's own API (static HTML + JS, no build step)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PAGE = Path(__file__).resolve().parent.parent / "static" / "playground.html"

router = APIRouter(tags=["playground"])


@cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/playground", response_class=HTMLResponse, include_in_schema=False)
async def playground() -> HTMLResponse:
    """The page calls ``GET v1/collections`` and ``POST v1/search`` relative to where it is served."""
    return HTMLResponse(_page(), headers={"cache-control": "no-cache"})
