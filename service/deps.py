"""Dependencies the routes declare: the registry and settings built in the app's lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.config import Settings
from service.registry import Registry


# ``async`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request.
async def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry  # app.state is untyped: this names what the lifespan put there
    return registry


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


RegistryDep = Annotated[Registry, Depends(_registry)]
SettingsDep = Annotated[Settings, Depends(_settings)]
