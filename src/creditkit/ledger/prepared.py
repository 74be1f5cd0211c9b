"""A batch's charges after their input checks, kept in columns.

``charge_many`` is checked in one pass: a plain charge (text customer and key, an integer
amount of a whole unit, no metadata, member, spender, late usage or debt) is checked inline
and kept as a position in a few lists, with no object of its own; any other charge goes through
``check_charge``, the full checks that name the field and the reason. A charge's ``Request`` (the
text recorded under its key) and its ``Prepared`` record are built only when a path asks for
them: the lean SQLite path reads the columns, the reference path and PostgreSQL's function read
``Prepared`` records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from creditkit.errors import CreditKitError, InvalidRequest
from creditkit.ledger.checks import (
    EXTERNAL_ID_LENGTH_MAX,
    IDEMPOTENCY_KEY_LENGTH_MAX,
    NAME_LENGTH_MAX,
    check_metadata,
    check_text,
    check_time,
)
from creditkit.ledger.schemas import AMOUNT_STEPS_MAX, ChargeRequest, TransactionKind, Unit
from creditkit.ledger.spending import check_spender
from creditkit.ledger.values import Request

if TYPE_CHECKING:
    from creditkit.ledger.writes import LedgerWrites


def _plain_text(value: object, length_max: int) -> bool:
    """Passes ``check_text`` for sure (the common case, checked without a call); False: let
    ``check_text`` look, and name what is wrong."""
    return type(value) is str and 0 < len(value) <= length_max and "\x00" not in value


@dataclass(frozen=True, slots=True)
class Prepared:
    """A charge that passed input checks: what it asks, in steps."""

    index: int
    charge: ChargeRequest
    unit: Unit
    steps: int
    request: Request


def check_charge(ledger: LedgerWrites, index: int, charge: ChargeRequest) -> Prepared:
    """Every input check of one charge; raises the error naming the field and the reason."""
    if not isinstance(charge, ChargeRequest):
        raise InvalidRequest("requests", f"item {index} is not a ChargeRequest")
    if not _plain_text(charge.customer, EXTERNAL_ID_LENGTH_MAX):
        check_text(charge.customer, "customer", EXTERNAL_ID_LENGTH_MAX)
    if not _plain_text(charge.idempotency_key, IDEMPOTENCY_KEY_LENGTH_MAX):
        check_text(charge.idempotency_key, "idempotency_key", IDEMPOTENCY_KEY_LENGTH_MAX)
    if charge.action is not None:
        check_text(charge.action, "action", NAME_LENGTH_MAX)
    unit = ledger.unit(charge.unit)
    amount = charge.amount
    if type(amount) is int and unit.scale == 0 and 0 < amount <= AMOUNT_STEPS_MAX:
        steps = amount  # the common case, without to_steps' general checks
    else:
        steps = unit.to_steps(amount)
    metadata = {} if charge.metadata == {} else check_metadata(charge.metadata)
    fields: dict[str, Any] = {
        "customer": charge.customer,
        "unit": charge.unit,
        "amount": steps,
        "action": charge.action,
        "metadata": metadata,
    }
    if charge.member is not None:
        # Only when named, so that charges recorded without members replay unchanged.
        fields["member"] = check_text(charge.member, "member", EXTERNAL_ID_LENGTH_MAX)
    if charge.spender is not None:
        fields["spender"] = check_spender(charge.spender)
    if charge.occurred_at is not None:
        # Only when given, so that charges recorded before late usage replay unchanged.
        fields["occurred_at"] = check_time(charge.occurred_at, "occurred_at").isoformat()
    if charge.allow_debt is not False:
        if not isinstance(charge.allow_debt, bool):
            raise InvalidRequest("allow_debt", "must be a bool")
        fields["allow_debt"] = True
    request = Request(charge.idempotency_key, TransactionKind.CHARGE, fields)
    return Prepared(index, charge, unit, steps, request)


def _plain_request(charge: ChargeRequest, steps: int) -> Request:
    """What ``check_charge`` records for a plain charge (the same fields, in the same order)."""
    fields = {
        "customer": charge.customer,
        "unit": charge.unit,
        "amount": steps,
        "action": charge.action,
        "metadata": {},
    }
    return Request(charge.idempotency_key, TransactionKind.CHARGE, fields)


class ChargeColumns:
    """The charges that passed input checks, one position per charge in the batch's order: the
    charge's index in its batch, the request, its unit and its amount in steps. A plain charge's
    ``Request`` is None until asked for (``request``)."""

    __slots__ = ("_prepared", "_requests", "charges", "indexes", "steps", "units")

    def __init__(self) -> None:
        self.indexes: list[int] = []
        self.charges: list[ChargeRequest] = []
        self.units: list[Unit] = []
        self.steps: list[int] = []
        self._requests: list[Request | None] = []
        self._prepared: list[Prepared] | None = None

    def __len__(self) -> int:
        return len(self.indexes)

    @classmethod
    def checked(
        cls, ledger: LedgerWrites, charges: Sequence[ChargeRequest]
    ) -> tuple[ChargeColumns, dict[int, CreditKitError]]:
        """The charges that pass their input checks, and the errors of those that do not, by
        index. Plain charges are checked here, in one pass, with the tests ``check_charge``
        makes of them; the rest by ``check_charge``."""
        columns = cls()
        invalid: dict[int, CreditKitError] = {}
        units: dict[str, Unit] = {}
        indexes, kept, unit_column = columns.indexes, columns.charges, columns.units
        steps_column, requests = columns.steps, columns._requests
        for index, charge in enumerate(charges):
            if type(charge) is ChargeRequest:
                customer, key, action = charge.customer, charge.idempotency_key, charge.action
                amount, name = charge.amount, charge.unit
                unit = units.get(name) if type(name) is str else None
                if (
                    unit is not None
                    and unit.scale == 0
                    and type(amount) is int
                    and 0 < amount <= AMOUNT_STEPS_MAX
                    and type(customer) is str
                    and 0 < len(customer) <= EXTERNAL_ID_LENGTH_MAX
                    and "\x00" not in customer
                    and type(key) is str
                    and 0 < len(key) <= IDEMPOTENCY_KEY_LENGTH_MAX
                    and "\x00" not in key
                    and (action is None or _plain_text(action, NAME_LENGTH_MAX))
                    and charge.member is None
                    and charge.spender is None
                    and charge.occurred_at is None
                    and charge.allow_debt is False
                    and type(charge.metadata) is dict
                    and not charge.metadata
                ):
                    indexes.append(index)
                    kept.append(charge)
                    unit_column.append(unit)
                    steps_column.append(amount)
                    requests.append(None)
                    continue
            try:
                prepared = check_charge(ledger, index, charge)
            except CreditKitError as error:
                invalid[index] = error
                continue
            units[prepared.unit.name] = prepared.unit
            columns.append(prepared)
        return columns, invalid

    @classmethod
    def of(cls, prepared: Sequence[Prepared]) -> ChargeColumns:
        columns = cls()
        for item in prepared:
            columns.append(item)
        return columns

    def append(self, item: Prepared) -> None:
        self.indexes.append(item.index)
        self.charges.append(item.charge)
        self.units.append(item.unit)
        self.steps.append(item.steps)
        self._requests.append(item.request)
        self._prepared = None

    def extend(self, other: ChargeColumns, offset: int) -> None:
        """Appends ``other``'s charges, their indexes moved by ``offset``."""
        self.indexes.extend(index + offset for index in other.indexes)
        self.charges.extend(other.charges)
        self.units.extend(other.units)
        self.steps.extend(other.steps)
        self._requests.extend(other._requests)
        self._prepared = None

    def subset(self, positions: Sequence[int]) -> ChargeColumns:
        """The charges at ``positions`` (in that order), with their indexes in the batch."""
        columns = ChargeColumns()
        requests = self._requests
        for position in positions:
            columns.indexes.append(self.indexes[position])
            columns.charges.append(self.charges[position])
            columns.units.append(self.units[position])
            columns.steps.append(self.steps[position])
            columns._requests.append(requests[position])
        return columns

    def prepared_at(self, position: int) -> Prepared:
        """One charge as a ``Prepared`` record."""
        return Prepared(
            self.indexes[position],
            self.charges[position],
            self.units[position],
            self.steps[position],
            self.request(position),
        )

    def request(self, position: int) -> Request:
        request = self._requests[position]
        if request is None:
            request = self._requests[position] = _plain_request(
                self.charges[position], self.steps[position]
            )
        return request

    def metadata(self, position: int) -> dict[str, Any]:
        """The charge's checked metadata (a plain charge's: a new empty dict)."""
        request = self._requests[position]
        return {} if request is None else request.fields["metadata"]

    def metadata_column(self) -> list[dict[str, Any]]:
        """Every charge's checked metadata: the plain charges' one shared empty dict, for
        readers that do not change it."""
        empty: dict[str, Any] = {}
        return [
            empty if request is None else request.fields["metadata"] for request in self._requests
        ]

    def prepared(self) -> list[Prepared]:
        """Every charge as a ``Prepared`` record (built once, when a path first asks)."""
        if self._prepared is None:
            self._prepared = [
                Prepared(index, charge, unit, steps, self.request(position))
                for position, (index, charge, unit, steps) in enumerate(
                    zip(self.indexes, self.charges, self.units, self.steps, strict=True)
                )
            ]
        return self._prepared
