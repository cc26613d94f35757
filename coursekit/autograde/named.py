"""Extension points chosen by name: a registry entry, or ``module:attribute`` imported on demand.

The string form is what worker processes (a local pool, Dask) can resolve on their own: an object
registered only in the parent process does not exist in theirs.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping


def resolve(registry: Mapping[str, object], name: str, kind: str) -> object:
    """What ``name`` names in ``registry`` (a string value is itself ``module:attribute``); LookupError
    with a one-line message naming the ``kind`` ("executor", "sandbox backend") otherwise."""
    found = registry.get(name, name if ":" in name else None)
    if found is None:
        raise LookupError(f"unknown {kind} {name!r} (known: {', '.join(sorted(registry))})")
    if isinstance(found, str):
        module, _, attribute = found.partition(":")
        try:
            found = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise LookupError(f"{kind} {name!r}: cannot import {found}: {exc}") from None
    return found
