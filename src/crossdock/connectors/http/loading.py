"""Finding the integrator's mapping functions when the hub is built: `package.module:function` references, imported
from an installed package or from the folders in `options.path`. Anything that does not load is a configuration
error at start naming the option, the module and why, never a failure on the first message.

Must not: run at import time, or call the functions it loads.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from crossdock.hub.errors import MappingError

_REFERENCE = re.compile(r"^(?P<module>[A-Za-z_]\w*(\.[A-Za-z_]\w*)*):(?P<name>[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)$")


@dataclass(frozen=True)
class Loaded:
    """A function the integrator wrote, with the reference it was named by (errors quote it)."""

    reference: str
    function: Callable[..., Any]

    def __call__(self, argument: Any) -> Any:
        """The function's answer; what it raises becomes a MappingError that names it (and the fields, for a model's
        ValidationError), so that the message or delivery it was working on fails with a reason, never the batch."""
        try:
            return self.function(argument)
        except MappingError as exc:
            raise MappingError(f"{self.reference}: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'value'}: {error['msg']}" for error in exc.errors()[:5]
            )
            raise MappingError(f"{self.reference} raised ValidationError ({exc.title}): {problems}") from None
        except Exception as exc:
            raise MappingError(f"{self.reference} raised {exc.__class__.__name__}: {exc}") from exc


def folders(where: str, given: str | Sequence[str] | None, base: Path | None = None) -> list[Path]:
    """The folders of `options.path`, each an existing directory; relative ones from `base` (the working directory
    the hub was started in when None)."""
    if given is None:
        return []
    found = []
    for entry in [given] if isinstance(given, str) else list(given):
        folder = Path(entry).expanduser()
        if not folder.is_absolute():
            folder = (base or Path.cwd()) / folder
        if not folder.is_dir():
            raise ValueError(f"{where}: {entry} is not a folder (relative paths start from {base or Path.cwd()})")
        found.append(folder.resolve())
    return found


def load(where: str, reference: str, search: Sequence[Path] = ()) -> Loaded:
    """The function `reference` names (`package.module:function`); ValueError naming `where` when it cannot be had.
    The folders in `search` are added to the end of sys.path first, so an installed module of the same name wins."""
    matched = _REFERENCE.match(reference.strip()) if isinstance(reference, str) else None
    if matched is None:
        raise ValueError(f"{where}: {reference!r} is not a reference to a function; write 'package.module:function'")
    module_name, name = matched["module"], matched["name"]
    for folder in search:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            looked = ", ".join(str(f) for f in search) if search else "installed packages only; see options.path"
            raise ValueError(
                f"{where}: cannot import module {module_name!r}: no such module (looked in {looked})"
            ) from None
        raise ValueError(f"{where}: module {module_name!r} cannot be imported: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - whatever the module's own code raised is the integrator's to fix
        raise ValueError(
            f"{where}: module {module_name!r} cannot be imported: {exc.__class__.__name__}: {exc}"
        ) from None
    target: Any = module
    for step in name.split("."):
        if not hasattr(target, step):
            offered = ", ".join(_functions(module)) or "none"
            raise ValueError(f"{where}: module {module_name!r} has no {name!r} (its functions: {offered})")
        target = getattr(target, step)
    if not callable(target):
        raise ValueError(f"{where}: {module_name}:{name} is a {type(target).__name__}, not a function")
    _takes_one_argument(where, f"{module_name}:{name}", target)
    return Loaded(f"{module_name}:{name}", target)


def _takes_one_argument(where: str, reference: str, function: Callable[..., Any]) -> None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # some callables (builtins) do not say; the first call will
    try:
        signature.bind(object())
    except TypeError:
        raise ValueError(f"{where}: {reference} must take one argument, it takes {signature}") from None


def _functions(module: Any) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and inspect.isfunction(value) and value.__module__ == module.__name__
    )
