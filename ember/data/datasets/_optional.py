"""Importing optional packages with a message that says how to install them."""
from __future__ import annotations

import importlib


def require(module, package, purpose):
    """Import ``module`` or raise ImportError naming the pip package to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{purpose} needs the optional package {package!r}: "
                          f"pip install {package}") from None
