"""Usage objects as model APIs return them, into one ``TokenUsage``.

Accepted as they come, as mappings or as objects with attributes (an SDK's response or its
``usage``):

- creditkit's own: ``input_tokens``, ``output_tokens``, ``cache_read_tokens``,
  ``cache_write_tokens`` (the four do not overlap);
- OpenAI Chat Completions: ``prompt_tokens`` (cached ones included),
  ``completion_tokens``, ``prompt_tokens_details.cached_tokens``;
- OpenAI Responses: ``input_tokens`` (cached ones included), ``output_tokens``,
  ``input_tokens_details.cached_tokens``;
- Anthropic Messages: ``input_tokens`` (cache excluded), ``output_tokens``,
  ``cache_read_input_tokens``, ``cache_creation_input_tokens``.

The model is ``usage.model`` (or the ``model`` argument); a response object that carries its
``usage`` and ``model`` (``ChatCompletion``, ``Message``) may be given whole. Other members
(``total_tokens``, ``service_tier``, …) are ignored. A count that is missing, negative, not an
int, or larger than the call could be is refused naming its field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from creditkit.errors import InvalidRequest
from creditkit.pricing.schemas import TokenUsage

#: Tokens of one kind in one call, at most: far above any context window, low enough that
#: the cost's arithmetic stays small.
TOKENS_PER_CALL_MAX: Final = 10**12
MODEL_LENGTH_MAX: Final = 255
PROVIDER_LENGTH_MAX: Final = 64
_MISSING: Final = object()


def token_usage(
    usage: object, *, model: str | None = None, provider: str | None = None
) -> TokenUsage:
    """``usage`` (any accepted shape) as a ``TokenUsage``; ``model`` and ``provider`` name
    them when the usage object does not."""
    if isinstance(usage, TokenUsage):
        return usage
    if usage is None or isinstance(usage, str | bytes | int | float):
        raise InvalidRequest("usage", "expected a usage object (a mapping or an SDK's usage)")
    inner = _member(usage, "usage")
    if inner is not _MISSING and inner is not None and not isinstance(inner, int):
        # A whole response: its usage, and its model unless one is given.
        model = model or _text_or_none(_member(usage, "model"), "usage.model", MODEL_LENGTH_MAX)
        usage = inner
    named_model = _text_or_none(_member(usage, "model"), "usage.model", MODEL_LENGTH_MAX)
    named_provider = _text_or_none(
        _member(usage, "provider"), "usage.provider", PROVIDER_LENGTH_MAX
    )
    chosen_model = model or named_model
    if chosen_model is None:
        raise InvalidRequest("usage.model", "missing: name the model the usage is of")
    _text_or_none(chosen_model, "usage.model", MODEL_LENGTH_MAX)
    chosen_provider = provider or named_provider
    if chosen_provider is not None:
        _text_or_none(chosen_provider, "usage.provider", PROVIDER_LENGTH_MAX)
    counts = _counts(usage)
    return TokenUsage(
        model=chosen_model,
        provider=chosen_provider,
        input_tokens=counts[0],
        output_tokens=counts[1],
        cache_read_tokens=counts[2],
        cache_write_tokens=counts[3],
    )


def usage_body(usage: object) -> dict[str, Any]:
    """``usage`` (any accepted shape) as the JSON the HTTP API takes: creditkit's own shape,
    so that an SDK's object crosses the wire as its counts."""
    used = token_usage(usage)
    return {
        "model": used.model,
        "provider": used.provider,
        "input_tokens": used.input_tokens,
        "output_tokens": used.output_tokens,
        "cache_read_tokens": used.cache_read_tokens,
        "cache_write_tokens": used.cache_write_tokens,
    }


def _counts(usage: object) -> tuple[int, int, int, int]:
    """(input, output, cache read, cache write), non-overlapping, by the usage's style."""
    if _has(usage, "prompt_tokens") or _has(usage, "completion_tokens"):
        prompt = _count(usage, "prompt_tokens", required=True)
        details = _member(usage, "prompt_tokens_details")
        cached = _nested_count(details, "usage.prompt_tokens_details.cached_tokens")
        if cached > prompt:
            raise InvalidRequest(
                "usage.prompt_tokens_details.cached_tokens",
                f"{cached} exceeds prompt_tokens ({prompt}), which counts them",
            )
        output = _count(usage, "completion_tokens", required=True)
        return prompt - cached, output, cached, 0
    if _has(usage, "input_tokens_details"):
        total = _count(usage, "input_tokens", required=True)
        details = _member(usage, "input_tokens_details")
        cached = _nested_count(details, "usage.input_tokens_details.cached_tokens")
        if cached > total:
            raise InvalidRequest(
                "usage.input_tokens_details.cached_tokens",
                f"{cached} exceeds input_tokens ({total}), which counts them",
            )
        return total - cached, _count(usage, "output_tokens", required=True), cached, 0
    if _has(usage, "cache_read_input_tokens") or _has(usage, "cache_creation_input_tokens"):
        return (
            _count(usage, "input_tokens", required=True),
            _count(usage, "output_tokens", required=True),
            _count(usage, "cache_read_input_tokens"),
            _count(usage, "cache_creation_input_tokens"),
        )
    return (
        _count(usage, "input_tokens", required=True),
        _count(usage, "output_tokens", required=True),
        _count(usage, "cache_read_tokens"),
        _count(usage, "cache_write_tokens"),
    )


def _member(container: object, name: str) -> object:
    if isinstance(container, Mapping):
        return container.get(name, _MISSING)
    return getattr(container, name, _MISSING)


def _has(container: object, name: str) -> bool:
    """Present and not None (SDKs leave absent counts None)."""
    return _member(container, name) not in (_MISSING, None)


def _count(container: object, name: str, *, required: bool = False) -> int:
    return _checked(_member(container, name), f"usage.{name}", required)


def _nested_count(details: object, field: str) -> int:
    """A count inside a details object (absent details: 0)."""
    if details is _MISSING or details is None:
        return 0
    if isinstance(details, str | bytes | int | float):
        parent = field.rsplit(".", 1)[0]
        raise InvalidRequest(parent, "expected an object with token counts")
    return _checked(_member(details, field.rsplit(".", 1)[1]), field, False)


def _checked(value: object, field: str, required: bool) -> int:
    if value is _MISSING or value is None:
        if required:
            raise InvalidRequest(field, "missing: a usage counts its input and output tokens")
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(field, f"must be an int (a count of tokens), not {_kind(value)}")
    if value < 0:
        raise InvalidRequest(field, f"must not be negative, got {value}")
    if value > TOKENS_PER_CALL_MAX:
        raise InvalidRequest(field, f"must be at most {TOKENS_PER_CALL_MAX}, got {value}")
    return value


def _text_or_none(value: object, field: str, length_max: int) -> str | None:
    if value is _MISSING or value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(field, f"must be non-empty text, not {_kind(value)}")
    if len(value) > length_max:
        raise InvalidRequest(field, f"must be at most {length_max} characters")
    return value


def _kind(value: object) -> str:
    return repr(value) if isinstance(value, str) else type(value).__name__
