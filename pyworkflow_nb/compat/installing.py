"""Making a front-end importable under the name of the package whose code it runs."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from ..errors import PyWorkflowError


def install_as(name: str, module: ModuleType, submodules: dict[str, ModuleType],
               what: str) -> None:
    """Make ``import name`` (and ``name.<sub>``) resolve to ``module``, so code written for
    that package runs unchanged; refused when ``what``, the real package, is importable."""
    if sys.modules.get(name) is module:
        return
    if name in sys.modules or importlib.util.find_spec(name):
        raise PyWorkflowError(
            f"{what} is importable, so install() will not shadow it; run this code in an "
            f"environment without it, or import {module.__name__} directly")
    sys.modules[name] = module
    for sub, target in submodules.items():
        sys.modules[f"{name}.{sub}"] = target


__all__ = ["install_as"]
