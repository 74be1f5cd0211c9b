"""Overage corrections: late usage and reversals that change the overage of a period already
billed.

Overage is billed when its period closes, from what was issued beyond the grants in it, counted
at the moment the usage happened (late usage at its ``occurred_at``, a reversal with its
charge). Spending counted in a period still open is billed at its close like any other. When it
counts in a period already closed (or a stretch closed by a plan change), the close has billed
that period without it: a correction line is billed for the period then, in the same
transaction, priced at the plan's overage price on the steps it adds (positive) or gives back
(negative: a credit), rounded as every overage line is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from creditkit.derived_keys import overage_correction_key
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.kernel import Spend
from creditkit.ledger.schemas import Money
from creditkit.subscriptions import repository
from creditkit.subscriptions.plan_versions import PlanVersions
from creditkit.subscriptions.records import SubscriptionRecords
from creditkit.subscriptions.schemas import BillingLineKind
from creditkit.subscriptions.state import SubscriptionState, allowance_of

if TYPE_CHECKING:
    from creditkit.subscriptions.overage import Overage


def correct(
    overage_periods: Overage,
    plans: PlanVersions,
    records: SubscriptionRecords,
    connection: Connection,
    spends: Sequence[Spend],
) -> None:
    """The ledger's ``recorded`` hook: a correction line for each spend counted in a closed
    overage period that moved credits beyond the grants (``issued``)."""
    for spend in spends:
        if spend.counted_at is None or spend.issued == 0:
            continue  # counted now, or nothing issued: the open period's close bills it
        _correct_one(overage_periods, plans, records, connection, spend)


def _correct_one(
    overage_periods: Overage,
    plans: PlanVersions,
    records: SubscriptionRecords,
    connection: Connection,
    spend: Spend,
) -> None:
    row = repository.read_subscription(connection, spend.customer_id)
    if row is None:
        return
    state = SubscriptionState.from_row(row)
    plan, _version = plans.plan(connection, state.plan_version_id)
    overage = plan.overage
    if overage is None or overage.unit != spend.unit or spend.counted_at is None:
        return
    if overage.price is None:
        # Carried as debt (``carry: debt``): overage is owed in credits, never billed in money,
        # and the late spend's own credits are owed now: nothing to correct in money.
        return
    now = spend.created_at
    external_id = ledger_repository.external_ids(connection, [spend.customer_id])
    holder = ledger_repository.read_customer(connection, external_id[spend.customer_id])
    start, end = overage_periods.period(state, plan, now)
    billed_until = overage_periods.stretch_start(connection, holder, start, end)
    if spend.counted_at >= billed_until:
        return  # in the stretch still open: its close counts it
    bounds = (
        overage_periods.period(state, plan, spend.counted_at)
        if allowance_of(plan) is not None
        else (None, None)
    )
    unit = overage_periods.unit(spend.unit)
    steps = abs(spend.issued)
    price = overage.price.amount_for(steps, unit.scale)
    sign = 1 if spend.issued > 0 else -1
    records.bill(
        connection, holder, state, BillingLineKind.OVERAGE,
        f"correction: {'' if sign > 0 else '-'}{unit.to_quantity(steps)} {unit.name} of overage"
        f" on {plan.name}, usage of a billed period",
        Money(sign * price.amount_minor, price.currency), bounds[0], bounds[1],
        overage_correction_key(spend.transaction_id), now,
    )  # fmt: skip
