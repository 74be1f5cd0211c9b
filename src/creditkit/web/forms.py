"""Reading the fields of a posted form, and saying in one sentence what went wrong with it.

A refusal becomes a notice on the page the form came from, naming the field by the label the
customer sees ("Amount: …"), never a stack trace or a status code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.datastructures import FormData

from creditkit.api.problems import ApiProblem
from creditkit.errors import (
    CreditKitError,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidRequest,
    UnknownCustomer,
)
from creditkit.payments.errors import ProviderError
from creditkit.web.context import FormRejected
from creditkit.web.rendering import credits

#: The idempotency keys ``Pages.form_tokens`` draws are 32 hex digits; a form may not send a
#: key of its own shape beyond this.
FORM_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: A whole number of credits as typed: digits only, at most 18 (the ledger's bound is higher).
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


def text(form: FormData, name: str, label: str, length_max: int) -> str:
    """The field's text, trimmed; empty when missing. Longer than ``length_max``: refused."""
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    value = value.strip()
    if len(value) > length_max:
        raise InvalidRequest(label, f"is at most {length_max:,} characters")
    return value


def required(form: FormData, name: str, label: str, length_max: int) -> str:
    value = text(form, name, label, length_max)
    if not value:
        raise InvalidRequest(label, "is required")
    return value


def whole_number(form: FormData, name: str, label: str) -> int:
    """A positive whole number, as typed (``1200``; no sign, no decimals, no separators)."""
    value = text(form, name, label, 32)
    if not WHOLE_NUMBER.fullmatch(value) or int(value) <= 0:
        raise InvalidRequest(label, "enter a whole number above 0")
    return int(value)


def idempotency_key(form: FormData) -> str:
    """The key the form was drawn with. A form without one was not drawn by these pages."""
    value = form.get("idempotency_key")
    if not isinstance(value, str) or not FORM_KEY.fullmatch(value):
        raise FormRejected()
    return value


def problem(error: CreditKitError | ApiProblem, labels: Mapping[str, str]) -> str:
    """What went wrong, in a sentence that names the field by its label (``labels`` maps the
    kit's field names to the form's)."""
    if isinstance(error, ApiProblem):
        return _sentence(error.detail)
    if isinstance(error, InvalidRequest):
        return f"{labels.get(error.field, error.field)}: {error.reason}."
    if isinstance(error, UnknownCustomer):
        return f"{labels.get('customer', 'Customer')}: there is no account {error.customer!r}."
    if isinstance(error, InsufficientCredits):
        return (
            f"{labels.get('amount', 'Amount')}: {credits(error.required)} {error.unit} asked,"
            f" {credits(error.available)} available."
        )
    if isinstance(error, IdempotencyConflict):
        return "This form was sent before with other values: reload the page and try again."
    if isinstance(error, ProviderError):
        return "The payment provider could not be reached: nothing was charged, try again."
    return _sentence(str(error))


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "Something went wrong: nothing was changed."
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else f"{text}."
