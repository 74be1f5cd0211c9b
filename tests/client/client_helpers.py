"""What the client tests share: catching an error, and comparing a rebuilt one with the kit's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from creditkit import CreditKitError


def raised(call: Callable[[], Any]) -> CreditKitError:
    with pytest.raises(CreditKitError) as caught:
        call()
    return caught.value


def assert_same_error(remote: object, embedded: object) -> None:
    """The same class (the client's may add facts), the same attributes and the same text."""
    assert isinstance(embedded, CreditKitError)
    assert isinstance(remote, type(embedded))
    fields = remote.to_fields()
    for name, value in embedded.to_fields().items():
        assert fields[name] == value, name
        assert type(fields[name]) is type(value), name
    assert str(remote) == str(embedded)
