"""Lazy re-exports (PEP 562), written once for every package that needs them.

Packages re-export names from heavy modules (pydantic models, SQLAlchemy,
HTTP code) without importing them until first use, which keeps ``import
ai_core`` and ``ai --help`` fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``exports`` (name -> module) on first use.

    The value is cached in the package's namespace, so each name costs one
    import and later lookups are plain attribute reads.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        imported = importlib.import_module(module)
        # A name that is the module's own last part exports the module (``ai_core.builtin``).
        value = imported if module.rpartition(".")[2] == name else getattr(imported, name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
