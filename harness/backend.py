"""Resolving ``--backend`` values into ``Backend`` objects: built-ins, entry points, import paths.

A backend is any namespace exposing some of ``harness.api.API_NAMES`` with ``torch.ao.pruning``
semantics, plus optional ``name``, ``version``, ``xfails`` (a path to an
expected-failures file). The harness resolves it once; tests reach its names through
``Backend.get``, which turns a missing name into an *unsupported* outcome rather than an error.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .api import API_NAMES, KNOWN_NAMES
from .errors import BackendUnavailableError, UnsupportedError, UsageError
from .import_limit import limited_import

BUILTIN_BACKENDS: dict[str, str] = {
    "reference": "prunebench.reference_impl",
    "torch": "prunebench.harness.backends.torch_ao",
    "torchao": "prunebench.harness.backends.torchao_sparsity",
    "torch-pruning": "prunebench.harness.backends.torch_pruning_adapter",
    "nn-utils-prune": "prunebench.harness.backends.nn_utils_prune",
    "llm-compressor": "prunebench.harness.backends.llm_compressor",
}
"""Built-in backend names and the import path that provides each."""

LEGACY_PACKAGES = ("harness", "reference_impl", "suites")
"""Top-level import names of prunebench before it installed everything under ``prunebench``: a backend given
by its old path (``--backend=reference_impl``, ``harness.backends.torch_ao``) is still found, as the same
module the rest of the run uses (never a second copy imported from a checkout on ``sys.path``)."""

ENTRY_POINT_GROUP = "prunebench.backends"


@dataclass(frozen=True)
class Backend:
    """One implementation of the contract under test, resolved from a ``--backend`` value."""

    name: str
    namespace: Any = field(repr=False, compare=False)
    source: str = ""
    version: str = "unknown"
    xfails_file: Path | None = None
    mask_access: Any = field(default=None, repr=False, compare=False)
    """The backend's ``mask_access`` (see ``harness.mask_access``); None: masks are parametrizations."""
    options: tuple[str, ...] = ()
    """The command-line options that select this backend again, for reproduction commands."""
    subject: Any = field(default=None, repr=False, compare=False)
    """The one class under ``prunebench check`` (a ``harness.subjects.Subject``), or None for a library."""
    unchecked_classes: tuple[str, ...] = ()
    """Classes deriving from the contract's bases that the backend exports under other names."""
    notes: tuple[str, ...] = ()
    """What the header and the report say about how the backend describes itself (a ``version`` that is no str)."""

    def provides(self, api_name: str) -> bool:
        return getattr(self.namespace, _checked(api_name), None) is not None

    def provided(self) -> list[str]:
        """The contract names this backend exposes, in API order."""
        return [api_name for api_name in API_NAMES if self.provides(api_name)]

    def get(self, api_name: str) -> Any:
        """The backend's ``api_name``; raises ``UnsupportedError`` naming it when the backend lacks it."""
        value = getattr(self.namespace, _checked(api_name), None)
        if value is None:
            raise UnsupportedError(f"backend {self.name!r} does not provide {api_name}")
        return value


def _checked(api_name: str) -> str:
    if api_name not in KNOWN_NAMES:
        raise KeyError(f"{api_name!r} is not part of the contract; known names: {', '.join(KNOWN_NAMES)}")
    return api_name


def entry_point_backends() -> dict[str, importlib.metadata.EntryPoint]:
    """Backends installed by other packages under the ``prunebench.backends`` entry-point group."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def known_backend_names() -> list[str]:
    return sorted(BUILTIN_BACKENDS) + sorted(set(entry_point_backends()) - set(BUILTIN_BACKENDS))


def _usage(value: str, why: str) -> UsageError:
    return UsageError(
        f"cannot use backend {value!r}: {why}. Use a built-in ({', '.join(sorted(BUILTIN_BACKENDS))}), "
        f"an installed entry point ({', '.join(sorted(entry_point_backends())) or 'none installed'}) "
        "or an import path 'pkg.module' / 'pkg.module:attribute'"
    )


def _raised_at(error: BaseException) -> str:
    """`` at FILE:LINE`` of the innermost frame that raised, outside Python's import machinery."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "importlib" not in f.filename]
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _import_path(value: str) -> Any:
    module_path, _, attribute = value.partition(":")
    try:
        with limited_import(module_path):
            namespace: Any = importlib.import_module(module_path)
    except UsageError:  # the import ran past its time limit
        raise
    except BackendUnavailableError as error:
        raise UsageError(str(error)) from error
    except ImportError as error:
        where = _raised_at(error)
        raise _usage(value, f"importing {module_path!r} failed ({type(error).__name__}: {error}){where}") from error
    except Exception as error:  # a backend whose import crashes must not take the harness down
        where = _raised_at(error)
        raise _usage(value, f"importing {module_path!r} raised {type(error).__name__}: {error}{where}") from error
    for part in filter(None, attribute.split(".")):
        if not hasattr(namespace, part):
            raise _usage(value, f"{module_path!r} has no attribute {part!r}")
        namespace = getattr(namespace, part)
    return namespace


def _load_namespace(value: str) -> tuple[Any, str]:
    if value in BUILTIN_BACKENDS:
        return _import_path(BUILTIN_BACKENDS[value]), BUILTIN_BACKENDS[value]
    entry_points = entry_point_backends()
    if value in entry_points:
        try:
            with limited_import(value):
                return entry_points[value].load(), entry_points[value].value
        except UsageError:
            raise
        except Exception as error:
            raise _usage(value, f"loading its entry point raised {type(error).__name__}: {error}") from error
    if not value or not all(part.isidentifier() for part in value.replace(":", ".").split(".")):
        raise _usage(value, "it is neither a known name nor an import path")
    path = _current_path(value)
    return _import_path(path), path


def _current_path(value: str) -> str:
    """``reference_impl`` -> ``prunebench.reference_impl`` (see ``LEGACY_PACKAGES``); other paths unchanged."""
    package = value.replace(":", ".").split(".", 1)[0]
    return f"prunebench.{value}" if package in LEGACY_PACKAGES else value


@dataclass(frozen=True)
class _Described:
    """How a backend names or versions itself: its text, or what it set instead of a str."""

    text: str
    attribute: str | None = None
    type_name: str | None = None
    """The type of a value that is not a str (a ``version`` that is a submodule), else None."""

    @property
    def note(self) -> str | None:
        return f"its {self.attribute!r} is a {self.type_name}, not a str" if self.type_name else None


def _described(namespace: Any, attributes: tuple[str, ...], fallback: str) -> _Described:
    """The first of ``attributes`` the namespace sets, if a str; else ``fallback``, with the type it found.

    A ``version`` that is a submodule (``from . import version``) would otherwise print as
    ``<module 'x.version' from '...'>`` in every header and report.
    """
    for attribute in attributes:
        value = getattr(namespace, attribute, None)
        if value is None or value == "":
            continue
        if isinstance(value, str):
            return _Described(value)
        return _Described(fallback, attribute, type(value).__name__)
    return _Described(fallback)


def resolve_backend(value: str) -> Backend:
    """Turn one ``--backend`` value into a ``Backend`` or raise a ``UsageError`` that lists the options.

    A ``name`` that is not a str is replaced by ``value``; a ``version`` that is not a str reads
    ``<TYPE, not a str>``; the header and the report say which.
    """
    namespace, source = _load_namespace(value.strip())
    name = _described(namespace, ("name",), value.strip())
    version = _described(namespace, ("version", "__version__"), "unknown")
    if version.type_name is not None:
        version = _Described(f"<{version.type_name}, not a str>", version.attribute, version.type_name)
    backend = Backend(
        name=name.text,
        namespace=namespace,
        source=source,
        version=version.text,
        notes=tuple(note for note in (name.note, version.note) if note),
        xfails_file=Path(namespace.xfails) if getattr(namespace, "xfails", None) else None,
        mask_access=getattr(namespace, "mask_access", None),
        options=(f"--backend={value.strip()}",),
        unchecked_classes=tuple(_unchecked_classes(namespace)),
    )
    if not any(backend.provides(api_name) for api_name in KNOWN_NAMES):
        hint = unchecked_warning(backend)
        raise _usage(
            value,
            f"it provides none of the contract's names ({', '.join(KNOWN_NAMES)})" + (f"; {hint}" if hint else ""),
        )
    return backend


def _unchecked_classes(namespace: Any) -> list[str]:
    """Pruner classes exported under names that are not the contract's, when it exports none of its rules.

    Such a module (a user's ``MyMagnitudeSparsifier``) is tested on none of its own classes by the
    suites, which look names up; ``prunebench check`` is the way to validate them.
    """
    from .subjects import RULE_CLASSES, kind_of

    if any(getattr(namespace, name, None) is not None for name in RULE_CLASSES):
        return []
    found = []
    for attribute in sorted(dir(namespace)):
        value = getattr(namespace, attribute, None)
        named_otherwise = attribute not in KNOWN_NAMES and not attribute.startswith("Base")
        if named_otherwise and isinstance(value, type) and kind_of(value) is not None:
            found.append(attribute)
    return found


def unchecked_warning(backend: Backend) -> str | None:
    """The warning for a backend whose own pruner classes the suites will not test, or None."""
    if not backend.unchecked_classes:
        return None
    module = backend.source.partition(":")[0]
    names = ", ".join(backend.unchecked_classes)
    return (
        f"backend {backend.name!r} exports {names} under names that are not the contract's, and none of its "
        f"rule classes: the suites test none of them. Validate each with: prunebench check {module}:"
        f"{backend.unchecked_classes[0]}"
    )


def check_backend(spec: str, kwargs_text: str | None = None, like: str | None = None) -> Backend:
    """The backend of ``prunebench check``: one user class, named after itself, as the subject of the
    generic checks; with ``--like=NAME`` it also stands under that contract name, built the way its own
    constructor takes arguments (``harness.construction``), so the suites of that rule (its differential
    checks included) test it."""
    from .construction import adapted_class, check_buildable
    from .subjects import BUILTIN_KWARGS, check_like, load_class, parse_kwargs, subject_of_class

    with limited_import(spec):
        cls = load_class(spec)
    kwargs = parse_kwargs(kwargs_text)
    subject = subject_of_class(cls, kwargs, rule=like)
    check_like(like, subject.kind)
    try:
        subject.build()
    except Exception as error:
        raise UsageError(
            f"cannot build {cls.__name__}(**{subject.kwargs_text}): {type(error).__name__}: {error}; "
            "pass its constructor arguments as JSON with --kwargs"
        ) from error
    namespace = types.SimpleNamespace()
    if like:
        adapted = adapted_class(cls, like, kwargs or {}, subject.tags)
        check_buildable(adapted, like, BUILTIN_KWARGS.get(like, {}))
        setattr(namespace, like, adapted)
    options = [f"--check={spec}"]
    options += [f"--check-kwargs={kwargs_text}"] if kwargs_text is not None else []
    options += [f"--like={like}"] if like else []
    return Backend(
        name=subject.name,
        namespace=namespace,
        source=spec,
        version=str(getattr(importlib.import_module(cls.__module__), "__version__", "unknown")),
        options=tuple(options),
        subject=subject,
    )


def require_backend_names(values: str) -> None:
    """An empty ``--backend`` (an unset shell variable) is a usage error, never a fallback to the default."""
    if not values.strip(" ,"):
        raise UsageError(f"--backend is empty ({values!r}): name at least one backend, e.g. --backend=reference")


def resolve_backends(values: str) -> list[Backend]:
    """Resolve a comma-separated list; two values resolving to the same name are a usage error."""
    require_backend_names(values)
    backends = [resolve_backend(value) for value in values.split(",") if value.strip()]
    names = [backend.name for backend in backends]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"backends {duplicates} were selected twice (from {values!r})")
    return backends


def available_builtins() -> tuple[list[str], dict[str, str]]:
    """The built-in backends that resolve here, and why each of the others does not (a missing library)."""
    available, unavailable = [], {}
    for name in BUILTIN_BACKENDS:
        try:
            resolve_backend(name)
        except UsageError as error:
            unavailable[name] = str(error)
        else:
            available.append(name)
    return available, unavailable
