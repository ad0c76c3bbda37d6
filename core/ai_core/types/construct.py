"""Instances of ai-core's own models made without pydantic's generic paths, for values known valid.

A turn makes several: the user's message, copies of the answer with its ids and
totals. Validation (or ``model_copy``) is most of their cost, and buys nothing
when every value was just validated or is a plain ``str``.
"""

from __future__ import annotations

from copy import copy
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["constructed", "updated"]

M = TypeVar("M", bound=BaseModel)
_new = object.__new__
# BaseModel's own slots, set through their descriptors: 40 % cheaper than object.__setattr__.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def constructed(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """``cls(**values)`` without validating: ``values`` must hold every field, valid
    (``fields_set``: those the caller gave, as ``model_fields_set`` reports them)."""
    result = _new(cls)
    _set_dict(result, values)
    _set_fields_set(result, fields_set)
    _set_extra(result, None)
    _set_private(result, None)
    return result


def updated(model: M, **changes: Any) -> M:
    """``model.model_copy(update=changes)``: a shallow copy, the changes not validated,
    for 0.9 us instead of 1.7 (a turn makes two to four such copies).

    For ai-core's own types, whose ``changes`` are fields (none keeps extra fields)."""
    result = _new(model.__class__)
    _set_dict(result, {**model.__dict__, **changes})
    _set_fields_set(result, model.__pydantic_fields_set__ | changes.keys())
    _set_extra(result, model.__pydantic_extra__)
    private = model.__pydantic_private__
    _set_private(result, None if private is None else copy(private))
    return result
