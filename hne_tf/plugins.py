"""Discovery of registry entries kept in their own files.

A registry (model families and presets, losses, export precisions) keeps its
built-in entries in its own module and imports, once, every module of a
package set aside for further entries, where a module registers its entries
when imported (``presets.register_family``, ``losses.register``, ...). Adding
an entry is then one new file in that package plus its test; no list names it.

Plain Python: importing this module does not import TensorFlow.
"""

from __future__ import annotations

import importlib
import pkgutil


def import_package(package: str) -> list[str]:
    """Imports ``package`` and each of its modules (not sub-packages' modules, nor a module whose
    name starts with ``_``): first those the package lists in ``IMPORT_FIRST`` (if it has one), in
    that order, then the others in name order.

    Returns the modules' full names. A module that fails to import raises, naming itself.
    """
    pkg = importlib.import_module(package)
    found = sorted(info.name for info in pkgutil.iter_modules(pkg.__path__) if not info.name.startswith("_"))
    first = list(getattr(pkg, "IMPORT_FIRST", ()))
    missing = [name for name in first if name not in found]
    if missing:
        raise ImportError(f"{package}.IMPORT_FIRST names {missing}, which {package} does not have")
    names = first + [name for name in found if name not in first]
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return [f"{package}.{name}" for name in names]


__all__ = ["import_package"]
