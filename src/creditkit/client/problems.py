"""A problem+json body back into the ``CreditKitError`` the engine raised.

The API writes each engine error as its ``code``, its message (``detail``) and its facts (the
error's attributes; an ``InvalidRequest``'s ``field`` and ``reason`` as ``invalid_params``).
The client rebuilds the same class with the same attributes and the same message, so
``except InsufficientCredits`` works the same on ``Client`` as on ``CreditKit``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from creditkit.catalog import errors as catalog_errors
from creditkit.client.decode import Mismatch, decode, type_hints
from creditkit.client.errors import ApiError, PaymentRequired, RateLimited
from creditkit.errors import CreditKitError, require
from creditkit.events import errors as events_errors
from creditkit.notify import errors as notify_errors
from creditkit.payments import errors as payment_errors

#: The domains' error modules, imported here so that the walk of ``CreditKitError``'s
#: subclasses finds their classes whatever the program imported first.
ERROR_MODULES = (catalog_errors, payment_errors, notify_errors, events_errors)

#: The members every problem body has; the rest are the error's facts.
_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "invalid_params"})
#: Characters of a body that is not problem+json (a proxy's HTML page) kept in the error.
TEXT_KEPT_MAX = 300


def error_from_problem(status: int, body: Any, text: str) -> CreditKitError:
    """The error a failed response stands for. ``body`` is the parsed JSON (None when the body
    is not JSON) and ``text`` the raw body."""
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return ApiError(status, f"http_{status}", text[:TEXT_KEPT_MAX], {})
    code: str = body["code"]
    detail = str(body.get("detail", ""))
    facts = {name: value for name, value in body.items() if name not in _PROBLEM_MEMBERS}
    invalid = body.get("invalid_params")
    if isinstance(invalid, list) and invalid and isinstance(invalid[0], dict):
        facts.setdefault("field", invalid[0].get("name"))
        facts.setdefault("reason", invalid[0].get("reason"))
    cls = errors_by_code().get(code)
    if cls is None or issubclass(cls, ApiError):
        return (cls or ApiError)(status, code, detail, facts)
    return _rebuilt(cls, facts, detail)


@functools.cache
def errors_by_code() -> Mapping[str, type[CreditKitError]]:
    """Every engine error class by its code (walked once; ``ERROR_MODULES`` are loaded), and
    the client's own classes for the codes it answers with more."""
    found: dict[str, type[CreditKitError]] = {}
    pending: list[type[CreditKitError]] = [CreditKitError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("creditkit.client") or not cls.__module__.startswith(
            "creditkit."
        ):
            continue
        registered = found.setdefault(cls.code, cls)
        require(
            registered is cls,
            "every error code names one error class",
            f"{cls.code!r}: {registered.__qualname__} and {cls.__qualname__}",
        )
    found[PaymentRequired.code] = PaymentRequired
    found[RateLimited.code] = RateLimited
    return found


def _rebuilt(cls: type[CreditKitError], facts: dict[str, Any], detail: str) -> CreditKitError:
    """An instance of ``cls`` with the facts as its attributes, typed as its constructor
    declares them, and the server's message. Built without calling the constructor: a fact the
    body lacks (a conflict on a whole request names no field) is None rather than a failure."""
    error = cls.__new__(cls)
    Exception.__init__(error, detail)
    hints = _constructor_hints(cls)
    for name in hints:
        setattr(error, name, None)
    for name, value in facts.items():
        try:
            setattr(error, name, decode(value, hints.get(name, Any), name))
        except Mismatch:
            setattr(error, name, value)
    return error


def _constructor_hints(cls: type[CreditKitError]) -> dict[str, Any]:
    """The named parameters of the class's constructor with their types (the base class's,
    ``Exception``'s, has none)."""
    if cls.__init__ is Exception.__init__:
        return {}
    hints = type_hints(cls.__init__)
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {
        name: hints.get(name, Any)
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and parameter.kind in named
    }
