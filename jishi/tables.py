"""TOML tables into frozen dataclasses: the agent's and the bridge's config checker, no pydantic.

Theory of operation. A config class is a frozen, keyword-only dataclass whose annotations say
what each key takes: ``str``, ``int``, ``float``, ``bool``, ``Path``, a ``StrEnum``, a
``Literal``, ``X | None``, ``list[X]``, ``dict[str, X]`` or another config class (a nested
table). Constraints ride in ``Annotated`` metadata (:class:`Bounds`, :class:`Pattern`,
:class:`Length`, :class:`Check`, :class:`Before`, :data:`RELATIVE`); defaults are the
dataclass's. Checks across keys live in the class's ``__post_init__``, which raises
``ValueError``: they run when the keys themselves are good, and also when code builds a config
directly. :func:`parse` walks one table, collects every problem (key path, kind, message, the
value) instead of stopping at the first, and raises :class:`TableError`.

Problems are shaped like pydantic's error dicts (``loc``, ``type``, ``msg``, ``input``) with
pydantic's wording, so :mod:`jishi.config` turns both into "file: key: problem" the same way:
the collector's config is still pydantic, and a technician sees one style of message. pydantic
is kept out of the agent because importing it and building the first model costs 18 MB of the
agent's memory (issue 14).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

T = TypeVar("T")
Loc = tuple[int | str, ...]


class BadValueError(ValueError):
    """One problem with one value: a pydantic-style error type and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class TableError(ValueError):
    """Every problem of one table, as pydantic-style error dicts (``loc``, ``type``, ``msg``,
    ``input``)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Bounds:
    """A number's range: ``Annotated[float, Bounds(gt=0, le=60)]``."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def __call__(self, value: Any, _config_dir: Path | None) -> Any:
        for limit, bad, kind, text in (
            (self.ge, value < (self.ge or 0), "greater_than_equal", "greater than or equal to"),
            (self.gt, value <= (self.gt or 0), "greater_than", "greater than"),
            (self.le, value > (self.le or 0), "less_than_equal", "less than or equal to"),
            (self.lt, value >= (self.lt or 0), "less_than", "less than"),
        ):
            if limit is not None and bad:
                raise BadValueError(kind, f"Input should be {text} {_number(limit)}")
        return value


@dataclass(frozen=True, slots=True)
class Pattern:
    """Text that matches a regular expression (searched, as pydantic does)."""

    regex: str

    def __call__(self, value: Any, _config_dir: Path | None) -> Any:
        if not re.search(self.regex, value):
            raise BadValueError(
                "string_pattern_mismatch", f"String should match pattern '{self.regex}'"
            )
        return value


@dataclass(frozen=True, slots=True)
class Length:
    """The length of text, a list or a table."""

    min: int | None = None
    max: int | None = None

    def __call__(self, value: Any, _config_dir: Path | None) -> Any:
        what, unit = (
            ("String", "character")
            if isinstance(value, str)
            else ("List", "item")
            if isinstance(value, list)
            else ("Dictionary", "item")
        )
        size = len(value)
        for limit, bad, kind, word in (
            (self.min, size < (self.min or 0), "too_short", "at least"),
            (self.max, size > (self.max or 0), "too_long", "at most"),
        ):
            if limit is not None and bad:
                plural = "" if limit == 1 else "s"
                after = "" if what == "String" else f" after validation, not {size}"
                raise BadValueError(
                    kind, f"{what} should have {word} {limit} {unit}{plural}{after}"
                )
        return value


@dataclass(frozen=True, slots=True)
class Check:
    """A check of one value after its type: ``func`` returns the value or raises ValueError."""

    func: Callable[[Any], Any]

    def __call__(self, value: Any, _config_dir: Path | None) -> Any:
        return _checked(self.func, value)


@dataclass(frozen=True, slots=True)
class Before:
    """A conversion before the type check (hex text to a number)."""

    func: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Relative:
    """A path named in a config file: relative paths are taken from the file's folder, since a
    service runs in its data dir and a technician's check wherever the shell was (issue 14)."""

    def __call__(self, value: Path, config_dir: Path | None) -> Path:
        value = value.expanduser()
        return config_dir / value if config_dir is not None and not value.is_absolute() else value


RELATIVE = _Relative()
# A file or folder named in a config file.
ConfigPath = Annotated[Path, RELATIVE]
# The field (a dict) that takes the keys a table does not declare; without one they are errors.
EXTRA_KEYS = "extra_keys"


def parse(cls: type[T], data: Any, config_dir: Path | None = None) -> T:
    """``data`` (parsed TOML) as ``cls``; raises :class:`TableError` with every problem."""
    errors: list[dict[str, Any]] = []
    result = _value(cls, data, (), errors, config_dir)
    if errors:
        raise TableError(errors)
    return typing.cast(T, result)


_BAD: Any = object()


def _value(tp: Any, value: Any, loc: Loc, errors: list[dict[str, Any]], base: Path | None) -> Any:
    """``value`` checked against the annotation ``tp``; problems are appended to ``errors``."""
    try:
        return _convert(tp, value, loc, errors, base)
    except BadValueError as problem:
        errors.append({"loc": loc, "type": problem.kind, "msg": problem.message, "input": value})
        return _BAD


def _convert(tp: Any, value: Any, loc: Loc, errors: list[dict[str, Any]], base: Path | None) -> Any:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _annotated(tp, value, loc, errors, base)
    if origin in (typing.Union, types.UnionType):
        (only,) = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        # X | None is the only union a config uses; TOML has no null, so None is a default.
        return None if value is None else _convert(only, value, loc, errors, base)
    if origin is Literal or (isinstance(tp, type) and issubclass(tp, Enum)):
        return _choice(tp, value)
    if origin in (list, dict):
        return _collection(tp, value, loc, errors, base)
    if is_dataclass(tp) and isinstance(tp, type):
        return _table(tp, value, loc, errors, base)
    return _scalar(tp, value)


def _annotated(
    tp: Any, value: Any, loc: Loc, errors: list[dict[str, Any]], base: Path | None
) -> Any:
    inner, *meta = typing.get_args(tp)
    for item in meta:
        if isinstance(item, Before):
            value = _checked(item.func, value)
    value = _convert(inner, value, loc, errors, base)
    if value is not _BAD:
        for item in meta:
            if not isinstance(item, Before):
                value = item(value, base)
    return value


def _collection(
    tp: Any, value: Any, loc: Loc, errors: list[dict[str, Any]], base: Path | None
) -> Any:
    """``list[X]`` (a TOML array) or ``dict[str, X]`` (a table of any keys)."""
    if typing.get_origin(tp) is list:
        if not isinstance(value, list | tuple):
            raise BadValueError("list_type", "Input should be a valid list")
        (item,) = typing.get_args(tp)
        out = [_value(item, v, (*loc, i), errors, base) for i, v in enumerate(value)]
        return _BAD if _BAD in out else out
    if not isinstance(value, dict):
        raise BadValueError("dict_type", "Input should be a valid dictionary")
    _key, item = typing.get_args(tp)
    table = {str(k): _value(item, v, (*loc, str(k)), errors, base) for k, v in value.items()}
    return _BAD if _BAD in table.values() else table


# Scalars are converted as pydantic's default (lax) mode does, so a config that the agent read
# before issue 14 (a quoted number, ``"yes"`` for true) still reads the same.
_TRUE = frozenset({"true", "yes", "on", "1", "t", "y"})
_FALSE = frozenset({"false", "no", "off", "0", "f", "n"})
_INTEGER_TEXT = re.compile(r"[+-]?\d+(\.0*)?")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    detail = ", unable to interpret input" if isinstance(value, str | int | float) else ""
    raise BadValueError("bool_parsing", f"Input should be a valid boolean{detail}")


def _to_int(value: Any) -> int:
    if isinstance(value, int):  # bool too: True is 1, as in pydantic
        return int(value)
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise BadValueError(
            "int_from_float", "Input should be a valid integer, got a number with a fractional part"
        )
    if isinstance(value, str):
        if _INTEGER_TEXT.fullmatch(value.strip()):
            return int(value.strip().split(".")[0])
        raise BadValueError(
            "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
        )
    raise BadValueError("int_type", "Input should be a valid integer")


def _to_float(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise BadValueError(
                "float_parsing",
                "Input should be a valid number, unable to parse string as a number",
            ) from None
    raise BadValueError("float_type", "Input should be a valid number")


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise BadValueError("string_type", "Input should be a valid string")
    return value


def _to_path(value: Any) -> Path:
    if not isinstance(value, str | Path):
        raise BadValueError("path_type", "Input is not a valid path")
    return Path(value)


_SCALARS: dict[Any, Callable[[Any], Any]] = {
    bool: _to_bool,
    int: _to_int,
    float: _to_float,
    str: _to_str,
    Path: _to_path,
    Any: lambda value: value,
}


def _scalar(tp: Any, value: Any) -> Any:
    try:
        convert = _SCALARS[tp]
    except KeyError:
        raise TypeError(f"config annotation {tp!r} is not supported") from None
    return convert(value)


def _choice(tp: Any, value: Any) -> Any:
    """A ``Literal``'s value or an enum's member; the same type too (``1`` is not ``true``)."""
    enum = isinstance(tp, type) and issubclass(tp, Enum)
    choices = tuple(member.value for member in tp) if enum else typing.get_args(tp)
    kind = "enum" if enum else "literal_error"
    if any(value == choice and type(value) is type(choice) for choice in choices):
        return tp(value) if enum else value
    names = [repr(choice) for choice in choices]
    text = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    raise BadValueError(kind, f"Input should be {text}")


def _table(
    cls: type[Any], value: Any, loc: Loc, errors: list[dict[str, Any]], base: Path | None
) -> Any:
    if not isinstance(value, dict):
        text = f"Input should be a valid dictionary or instance of {cls.__name__}"
        raise BadValueError("model_type", text)
    hints, extra = _hints(cls)
    kwargs: dict[str, Any] = {}
    failed = False
    for name, (tp, required) in hints.items():
        if name in value:
            kwargs[name] = _value(tp, value[name], (*loc, name), errors, base)
            failed = failed or kwargs[name] is _BAD
        elif required:
            errors.append({"loc": (*loc, name), "type": "missing", "msg": "Field required"})
            failed = True
    unknown = {key: item for key, item in value.items() if key not in hints}
    if extra is not None:
        kwargs[extra] = unknown
    else:
        for key, item in unknown.items():
            errors.append(
                {
                    "loc": (*loc, key),
                    "type": "extra_forbidden",
                    "msg": "Extra inputs are not permitted",
                    "input": item,
                }
            )
            failed = True
    if failed:
        return _BAD
    try:
        return cls(**kwargs)
    except ValueError as exc:  # a check across keys (__post_init__)
        errors.append({"loc": loc, "type": "value_error", "msg": str(exc), "input": value})
        return _BAD


_HINTS: dict[type[Any], tuple[dict[str, tuple[Any, bool]], str | None]] = {}


def _hints(cls: type[Any]) -> tuple[dict[str, tuple[Any, bool]], str | None]:
    """Each key's annotation and whether it is required; the field taking unknown keys."""
    if cls in _HINTS:
        return _HINTS[cls]
    resolved = typing.get_type_hints(cls, include_extras=True)
    hints: dict[str, tuple[Any, bool]] = {}
    extra = None
    for item in fields(cls):
        if item.metadata.get(EXTRA_KEYS):
            extra = item.name
            continue
        required = item.default is MISSING and item.default_factory is MISSING
        hints[item.name] = (resolved[item.name], required)
    _HINTS[cls] = (hints, extra)
    return hints, extra


def _checked(func: Callable[[Any], Any], value: Any) -> Any:
    try:
        return func(value)
    except ValueError as exc:
        raise BadValueError("value_error", str(exc)) from None


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
