"""Lazy package exports: a name is imported from its module on first use, so importing a package
stays cheap (``ncf --help`` answers without loading torch)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping, MutableMapping
from typing import Any


def lazy_exports(package: str, namespace: MutableMapping[str, Any], table: Mapping[str, str],
                 modules: Collection[str] = ()) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) for ``package``: ``name`` comes from the module
    ``table[name]`` (or is that module, for the names in ``modules``) and is cached in
    ``namespace``, the package's globals; other names raise AttributeError."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        imported = importlib.import_module(module)
        value = imported if name in modules else getattr(imported, name)
        namespace[name] = value
        return value

    return __getattr__


def lazy_dir(namespace: Mapping[str, Any]) -> Callable[[], list[str]]:
    """A module ``__dir__`` for a lazy package: its loaded globals and every name of its ``__all__``
    (read when called, so ``__all__`` may be defined below)."""

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __dir__
