"""The reference path of a batch's charges: one charge decided by every rule
(``decide_charge``: scopes, late usage, members and spenders, the plan's headroom, budgets,
debt), the decided charges' rows written through the one posting primitive with their
answers (``write_decided``), and the spend hooks told (``tell_spend_hooks``). ``ChargeBatch``
runs it for the charges the lean SQLite path does not take, and for every charge elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.errors import (
    CreditKitError,
    InsufficientCredits,
    InvalidRequest,
    InvariantViolation,
    present,
)
from creditkit.ledger.checks import check_time
from creditkit.ledger.kernel import Spend
from creditkit.ledger.late_usage import counted_moment
from creditkit.ledger.prepared import Prepared
from creditkit.ledger.repository import GrantRow
from creditkit.ledger.schemas import Charge, Draw
from creditkit.ledger.spending import SpendState, applies
from creditkit.ledger.values import CONSUMPTION, ISSUANCE, take
from creditkit.ledger.writes import LedgerWrites
from creditkit.store.unit_of_work import CustomerRow

Outcome = Charge | CreditKitError


@dataclass(slots=True)
class Planned:
    """A charge decided in this transaction: its row, and its draws if it was applied."""

    prepared: Prepared
    row: dict[str, Any]
    draws: list[tuple[GrantRow, int]] | None
    refusal: CreditKitError | None
    #: Steps issued on demand beyond the grants (an unlimited plan).
    issued: int = 0
    #: The customer's grants' steps left in the unit right after this charge.
    available_after: int = 0
    #: Steps taken as debt, on the customer's debt account.
    debt: int = 0
    debt_account: int | None = None


def decide_charge(
    ledger: LedgerWrites,
    connection: Connection,
    item: Prepared,
    customer: CustomerRow,
    grants: dict[tuple[int, str], list[GrantRow]],
    headrooms: dict[tuple[int, str], int | None],
    state: SpendState,
    now: datetime,
) -> Planned | CreditKitError:
    """Applies or refuses one charge against what this batch has left: the grants that
    apply to its action, then the plan's headroom (each asked of the database once per
    batch, then spent down in memory), then ``check_spend`` (budgets on the spender's path,
    debt) for what they leave short."""
    unit = item.unit.name
    charge = item.charge
    spender = None
    occurred_at = None
    try:
        if charge.occurred_at is not None:
            occurred_at = counted_moment(
                check_time(charge.occurred_at, "occurred_at"), now, ledger.late_usage_window
            )
        if charge.member is not None:
            if customer.kind != "workspace":
                return InvalidRequest("workspace", f"{customer.external_id!r} is not a workspace")
            member = ledger.spender_for_spend(
                connection, state, customer, charge.member, unit, now, "member"
            )
            if member.kind != "member":
                return InvalidRequest("member", f"{charge.member!r} is not a member")
            spender = member
        if charge.spender is not None:
            spender = ledger.spender_for_spend(
                connection, state, customer, charge.spender, unit, now
            )
    except CreditKitError as error:
        return error
    row = ledger.transaction_values(
        item.request,
        customer,
        unit,
        item.steps,
        now,
        action=charge.action,
        metadata=item.request.fields["metadata"],
        member=charge.member,
        spender=None if spender is None else spender.external_id,
        occurred_at=occurred_at,
    )
    pair = (customer.id, unit)
    live = grants[pair]
    spendable = live
    if any(grant.applies_to is not None for grant in live):
        scope = ledger.action_scope(charge.action)
        spendable = [grant for grant in live if applies(grant, scope)]
    available = sum(grant.remaining for grant in spendable)
    headroom: int | None = 0
    if item.steps > available:
        if pair not in headrooms:
            headrooms[pair] = ledger.headroom(connection, customer, unit, now)
        headroom = headrooms[pair]
    shortfall = 0 if headroom is None else max(0, item.steps - available - headroom)

    def refusal(debt_room: int) -> CreditKitError:
        return InsufficientCredits(
            customer.external_id,
            unit,
            item.unit.to_quantity(available + (headroom or 0) + debt_room),
            item.unit.to_quantity(item.steps),
            item.unit.to_quantity(sum(g.remaining for g in live) - available),
        )

    checked = ledger.check_spend(
        connection, state, customer, item.unit, item.steps, now,
        spender=spender, shortfall=shortfall, allow_debt=charge.allow_debt, refusal=refusal,
    )  # fmt: skip
    if isinstance(checked, CreditKitError):
        if isinstance(checked, InvalidRequest):
            return checked
        row["status"] = "refused"
        row["outcome"] = ledger.refusal_outcome(checked)
        return Planned(item, row, None, checked)
    issued = max(0, item.steps - available - checked.debt)
    if issued and headroom is not None:
        headrooms[pair] = headroom - issued
    draws = take(spendable, item.steps - issued - checked.debt)
    available_after = sum(grant.remaining for grant in live)
    return Planned(
        item, row, draws, None, issued=issued, available_after=available_after,
        debt=checked.debt, debt_account=checked.debt_account,
    )  # fmt: skip


def write_decided(
    ledger: LedgerWrites,
    connection: Connection,
    planned: list[Planned],
    now: datetime,
    outcomes: dict[int, Outcome],
    state: SpendState,
) -> None:
    legs_of_rows: list[list[tuple[int, int]] | None] = []
    for plan in planned:
        item = plan.prepared
        if plan.draws is None:
            if plan.refusal is None:
                raise InvariantViolation("a charge draws or is refused", f"item {item.index}")
            legs_of_rows.append(None)
            continue
        unit = item.unit.name
        legs: list[tuple[int, int]] = []
        if plan.issued:
            legs.append((ledger.system_account(ISSUANCE, unit), -plan.issued))
        if plan.debt:
            legs.append((present(plan.debt_account, "a debt's account"), -plan.debt))
        legs.extend((grant.account_id, -part) for grant, part in plan.draws)
        legs.append((ledger.system_account(CONSUMPTION, unit), item.steps))
        legs_of_rows.append(legs)
    # The one posting primitive, for the whole batch: each charge's legs are checked, then
    # its row and its entries are written with the others' in as few statements as can be.
    ids = ledger.post_new(connection, [plan.row for plan in planned], legs_of_rows, state.drain())
    spends: list[Spend] = []
    for plan, transaction_id in zip(planned, ids, strict=True):
        item = plan.prepared
        if plan.draws is None:
            outcomes[item.index] = present(plan.refusal, "a refused charge's refusal")
            continue
        unit = item.unit.name
        spends.append(
            Spend(
                transaction_id,
                plan.row["customer_id"],
                unit,
                item.steps,
                item.charge.action,
                item.charge.member,
                plan.row["metadata"],
                now,
                plan.row["spender"],
                issued=plan.issued,
                counted_at=plan.row["occurred_at"],
            )
        )
        outcomes[item.index] = Charge(
            id=transaction_id,
            customer=item.charge.customer,
            unit=unit,
            amount=item.unit.to_quantity(item.steps),
            action=item.charge.action,
            draws=tuple(
                Draw(grant.account_id, item.unit.to_quantity(part)) for grant, part in plan.draws
            ),
            created_at=now,
            metadata=item.request.fields["metadata"],
            member=item.charge.member,
            available_after=item.unit.to_quantity(plan.available_after),
            spender=plan.row["spender"],
            debt=item.unit.to_quantity(plan.debt) if plan.debt else 0,
        )
    ledger.record_spends(connection, spends)


def tell_spend_hooks(
    ledger: LedgerWrites,
    connection: Connection,
    planned: list[Planned],
    locked: dict[str, CustomerRow],
    grants: dict[tuple[int, str], list[GrantRow]],
    now: datetime,
) -> None:
    """Once per customer and unit the batch spent from: available before and after."""
    spent: dict[tuple[str, str], int] = {}
    for plan in planned:
        if plan.draws is not None and plan.draws:
            pair = (plan.prepared.charge.customer, plan.prepared.unit.name)
            spent[pair] = spent.get(pair, 0) + sum(part for _grant, part in plan.draws)
    for (external_id, unit), steps in spent.items():
        customer = locked[external_id]
        after = sum(grant.remaining for grant in grants[(customer.id, unit)])
        ledger.spent(connection, customer, unit, after + steps, after, now)
