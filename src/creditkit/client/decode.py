"""JSON from the API back into creditkit's own types, exactly as the embedded ``CreditKit``
returns them.

An amount arrives as a JSON integer (a unit of scale 0: ``int``) or a decimal string (a unit
with decimal places: ``Decimal``), never a float; times are ISO 8601 with their offset. Each
decoder is strict about the JSON type it takes, so the members of a union (``int | Decimal``,
``int | UNLIMITED``) never compete for one value.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Literal, get_args, get_origin


class Mismatch(Exception):
    """The response does not have the shape of the type it should decode into."""

    def __init__(self, path: str, expected: str, value: Any) -> None:
        super().__init__(f"{path}: expected {expected}, got {value!r}"[:300])


def decode(value: Any, hint: Any, path: str = "$") -> Any:
    """``value`` (parsed JSON) as the type ``hint`` names; raises ``Mismatch``."""
    if hint is Any:
        return value
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _union(value, get_args(hint), path)
    if origin is Literal:
        return _literal(value, get_args(hint), path)
    if origin in (tuple, list, Sequence):
        items = _items(value, get_args(hint), path)
        return items if origin is list else tuple(items)
    if origin in (dict, Mapping):
        return _mapping(value, get_args(hint), path)
    if hint is type(None):
        if value is not None:
            raise Mismatch(path, "null", value)
        return None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _dataclass(value, hint, path)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _enum(value, hint, path)
    scalar = _SCALARS.get(hint)
    if scalar is None:
        raise TypeError(f"no decoder for {hint!r}")
    return scalar(value, path)


@functools.cache
def type_hints(target: Callable[..., Any] | type) -> dict[str, Any]:
    """The resolved annotations of a class or a function (resolving them is slow: cached)."""
    return typing.get_type_hints(target)


def _union(value: Any, options: tuple[Any, ...], path: str) -> Any:
    if value is None and type(None) in options:
        return None
    for option in options:
        if option is type(None):
            continue
        try:
            return decode(value, option, path)
        except Mismatch:
            continue
    raise Mismatch(path, " | ".join(getattr(o, "__name__", repr(o)) for o in options), value)


def _literal(value: Any, options: tuple[Any, ...], path: str) -> Any:
    for option in options:
        if value == (option.value if isinstance(option, Enum) else option):
            return option
    raise Mismatch(path, f"one of {options!r}", value)


def _items(value: Any, arguments: tuple[Any, ...], path: str) -> list[Any]:
    if not isinstance(value, list):
        raise Mismatch(path, "an array", value)
    item_hint = arguments[0] if arguments else Any
    return [decode(item, item_hint, f"{path}[{index}]") for index, item in enumerate(value)]


def _mapping(value: Any, arguments: tuple[Any, ...], path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Mismatch(path, "an object", value)
    key_hint, value_hint = arguments if len(arguments) == 2 else (Any, Any)
    # Keys are decoded too: a ``dict[GrantSource, int]`` has enum keys, as the kit's has.
    return {
        decode(key, key_hint, f"{path}.{key}"): decode(item, value_hint, f"{path}.{key}")
        for key, item in value.items()
    }


def _dataclass(value: Any, cls: type, path: str) -> Any:
    if not isinstance(value, dict):
        raise Mismatch(path, f"a {cls.__name__} object", value)
    hints = type_hints(cls)
    arguments: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name in value:
            arguments[field.name] = decode(
                value[field.name], hints[field.name], f"{path}.{field.name}"
            )
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise Mismatch(f"{path}.{field.name}", "a value", None)
    # Members the API adds later are ignored: an older client keeps working.
    return cls(**arguments)


def _enum(value: Any, cls: type[Enum], path: str) -> Enum:
    try:
        return cls(value)
    except ValueError:
        raise Mismatch(path, f"a {cls.__name__}", value) from None


def _int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Mismatch(path, "an integer", value)
    return value


def _decimal(value: Any, path: str) -> Decimal:
    # A decimal string; a Decimal when the JSON parser made one of a JSON fraction.
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, str):
        raise Mismatch(path, "a decimal string", value)
    try:
        exact = Decimal(value)
    except InvalidOperation:
        raise Mismatch(path, "a decimal string", value) from None
    if not exact.is_finite():
        raise Mismatch(path, "a finite decimal", value)
    return exact


def _datetime(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise Mismatch(path, "an ISO 8601 time", value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Mismatch(path, "an ISO 8601 time", value) from None
    if moment.tzinfo is None:
        raise Mismatch(path, "a time with its UTC offset", value)
    return moment


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise Mismatch(path, "a string", value)
    return value


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise Mismatch(path, "true or false", value)
    return value


_SCALARS: dict[Any, Callable[[Any, str], Any]] = {
    int: _int,
    Decimal: _decimal,
    datetime: _datetime,
    str: _string,
    bool: _boolean,
}
