"""Derive an all-optional copy of a pydantic model's fields, so a request or a partial override can reuse one
definition of each option (type, bounds, description) instead of repeating it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model


def optional_fields(model: type[BaseModel], *, exclude: Collection[str] = ()) -> dict[str, Any]:
    """``model``'s fields as ``create_model`` arguments, each optional with default None (left out: not set).

    Constraints (``ge``, ``le``, lengths, ...), description, title and examples are kept; only the default changes.

    Args:
        model: the model that defines the options.
        exclude: field names to leave out.
    """
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in exclude:
            continue
        annotation: Any = info.annotation | None  # type: ignore[operator]
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]  # type: ignore[valid-type]
        fields[name] = (annotation, Field(None, description=info.description, title=info.title,
                                          examples=info.examples))
    return fields


def partial_model(model: type[BaseModel], *, base: type[BaseModel], exclude: Collection[str] = ()) -> type[BaseModel]:
    """A model on ``base`` (its config, and its fields first) with ``model``'s fields all optional.

    Subclass it to name it and add methods: ``class FunnelOptions(partial_model(FunnelSpec, base=Frozen))``.

    Args:
        model: the model that defines the options.
        base: a model holding the config (frozen, extra) and any fields that come before ``model``'s.
        exclude: ``model`` fields to leave out.
    """
    return create_model(f"Partial{model.__name__}", __base__=base, __module__=base.__module__,
                        **optional_fields(model, exclude=exclude))
