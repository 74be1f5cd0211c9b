"""Refunds: a pack or top-up refunded within the refund window takes back the purchase's unused
credits and returns their share of the price through the provider; a refund made at the
provider (its dashboard) takes them back the same way, once. A plan's payment refunded within
its plan's refund window (the catalog's ``refund``) returns the whole price, takes back the
unused allowance granted since it was paid, moves the customer to the default plan, and issues
a receipt for the money returned."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from creditkit.amounts import wire_amount
from creditkit.catalog import Allowance, Catalog, PlanRefund
from creditkit.catalog.errors import UnknownPlan
from creditkit.derived_keys import (
    provider_refund_key,
    refund_bonus_key,
    refund_grant_key,
    refund_grants_prefix,
    refund_key,
)
from creditkit.errors import present, require
from creditkit.ledger import repository as ledger_repository
from creditkit.ledger.schemas import GrantSource, Money
from creditkit.outbox.types import EventType
from creditkit.outbox.writer import emit
from creditkit.payments import repository
from creditkit.payments.context import PaymentContext, read_payment_row
from creditkit.payments.errors import RefundRefused
from creditkit.payments.fulfilment import bonus_key
from creditkit.payments.receipts import issue_receipt, receipt_lines
from creditkit.payments.schemas import (
    PaymentKind,
    PaymentStatus,
    ProviderEvent,
    ReceiptKind,
    ReceiptLine,
    Refund,
)
from creditkit.store.unit_of_work import CustomerRow, UnitOfWork
from creditkit.subscriptions.service import SubscriptionService
from creditkit.subscriptions.state import prorate

PLAN_KINDS = (PaymentKind.PLAN, PaymentKind.RENEWAL)
#: Allowance grants taken back by one plan refund, at most: a refund window is at most a year,
#: and a plan grants at most one allowance a month plus an upgrade's and a rollover.
PLAN_REFUND_GRANTS_MAX = 64


class Refunds:
    def __init__(self, context: PaymentContext, refund_window: timedelta) -> None:
        self._ledger = context.ledger
        self._database = context.database
        self._provider = context.provider
        self._catalog: Catalog = context.catalog
        self._subscriptions: SubscriptionService = context.subscriptions
        self._refund_window = refund_window

    def refund(self, payment_id: int) -> Refund:
        """Refunds a pack or top-up within the refund window: takes back the purchase's unused
        credits (what was spent stays spent) and returns the price times unused over granted,
        rounded half up to the minor unit (see docs/payments.md). Once per payment: calling it
        again returns the same refund, and finishes one whose provider call failed."""
        row = read_payment_row(self._database, payment_id)
        customer = row.external_id

        def take_back(context: UnitOfWork) -> Any:
            holder = context.customers[customer]
            current = repository.read_payment(context.connection, payment_id)
            status = PaymentStatus(current.status)
            if status in (PaymentStatus.REFUNDING, PaymentStatus.REFUNDED):
                return current
            if PaymentKind(current.kind) in PLAN_KINDS:
                return self._take_back_plan(
                    context.connection, holder, current, status, context.now
                )
            self._check_refundable(current, status, context.now)
            taken = self._ledger.post_refund(
                context.connection, holder, refund_key(payment_id), current.grant_id, context.now,
                {"payment_id": payment_id},
            )  # fmt: skip
            if taken == 0:
                raise RefundRefused(payment_id, "every credit of the purchase is spent")
            self._take_back_bonus(context.connection, holder, payment_id, context.now)
            granted = present(
                ledger_repository.grant_holding(context.connection, current.grant_id),
                "a succeeded purchase's grant is held",
            )
            money = prorate(current.amount_minor, taken, granted.amount_granted)
            self._announce_credits(context.connection, holder, payment_id, granted.unit, taken,
                                   context.now)  # fmt: skip
            values = {
                "status": PaymentStatus.REFUNDING.value,
                "refunded_minor": money,
                "updated_at": context.now,
            }
            repository.update_payment(context.connection, payment_id, status.value, values)
            return repository.read_payment(context.connection, payment_id)

        row = self._ledger.locked_write([customer], take_back)
        if row.status == PaymentStatus.REFUNDING:
            row = self._return_money(row)
        return self._refund_view(row)

    def _announce_credits(
        self, connection: Connection, holder: CustomerRow, payment_id: int, unit: str,
        steps: int, now: datetime,
    ) -> None:  # fmt: skip
        emit(connection, EventType.CREDITS_REFUNDED, holder.id, {
            "payment_id": payment_id, "unit": unit,
            "amount": wire_amount(self._ledger.unit(unit).to_quantity(steps)),
        }, now)  # fmt: skip

    def _take_back_bonus(
        self, connection: Connection, holder: CustomerRow, payment_id: int, now: datetime
    ) -> None:
        """What is left of a pack's bonus goes with the refund: it was given for the purchase.
        It returns no money (it cost nothing)."""
        granted = ledger_repository.find_transaction(connection, bonus_key(payment_id))
        if granted is None:
            return
        bonus = ledger_repository.read_grant_by_transaction(connection, granted.id)
        self._ledger.post_refund(
            connection, holder, refund_bonus_key(payment_id), bonus.account_id, now,
            {"payment_id": payment_id, "bonus": True},
        )  # fmt: skip

    def _take_back_plan(
        self, connection: Connection, holder: CustomerRow, row: Any, status: PaymentStatus,
        now: datetime,
    ) -> Any:  # fmt: skip
        """A plan's money-back guarantee, inside the customer's lock: the checks, the unused
        allowance granted since the payment taken back, the default plan, the receipt."""
        policy = self._plan_refund_policy(row)
        self._check_paid(row, status)
        window_end = row.succeeded_at + timedelta(days=policy.window_days)
        if now > window_end:
            raise RefundRefused(row.id, f"the refund window ended at {window_end.isoformat()}")
        if policy.first_purchase_only:
            earlier = repository.earlier_plan_payment(connection, holder.id, row.id)
            if earlier is not None:
                raise RefundRefused(
                    row.id,
                    f"only a first plan purchase is refunded, and payment {earlier} came first",
                )
        self._claw_back_allowance(connection, holder, row, now)
        self._subscriptions.fall_back(connection, holder, now)
        description = "; ".join(line.description for line in receipt_lines(row.lines))
        issue_receipt(
            connection, holder, f"refund:{row.id}", ReceiptKind.SUBSCRIPTION,
            [ReceiptLine(f"Refund: {description}", -row.amount_minor)], -row.amount_minor, 0,
            row.currency, row.id, None, now,
        )  # fmt: skip
        values = {
            "status": PaymentStatus.REFUNDING.value,
            "refunded_minor": row.amount_minor,
            "updated_at": now,
        }
        repository.update_payment(connection, row.id, status.value, values)
        return repository.read_payment(connection, row.id)

    def _plan_refund_policy(self, row: Any) -> PlanRefund:
        try:
            policy = self._catalog.plan(row.plan_id).refund
        except UnknownPlan:
            policy = None
        if policy is None:
            raise RefundRefused(row.id, f"plan {row.plan_id!r} has no refund window")
        return policy

    def _claw_back_allowance(
        self, connection: Connection, holder: CustomerRow, row: Any, now: datetime
    ) -> None:
        """Takes back what is left of the allowance granted since the payment (the paid
        period's, an upgrade's, a rollover into it): what was used stays used."""
        unit = self._allowance_unit(row.plan_id)
        if unit is None:
            return
        grants = [
            grant
            for grant in ledger_repository.grants_with_credits(connection, holder.id, unit)
            if grant.source is GrantSource.ALLOWANCE
            and grant.effective_at >= row.succeeded_at
            and grant.is_live(now)
        ]
        grants = [grant for grant in grants if self._of_plan(connection, grant.account_id, row)]
        require(
            len(grants) <= PLAN_REFUND_GRANTS_MAX,
            "a plan refund takes back a bounded number of allowance grants",
            f"{len(grants)} grants",
        )
        taken = 0
        for grant in sorted(grants, key=lambda grant: grant.account_id):
            taken += self._ledger.post_refund(
                connection, holder, refund_grant_key(row.id, grant.account_id),
                grant.account_id, now, {"payment_id": row.id},
            )  # fmt: skip
        if taken:
            self._announce_credits(connection, holder, row.id, unit, taken, now)

    @staticmethod
    def _of_plan(connection: Connection, grant_id: int, row: Any) -> bool:
        """Whether an allowance grant came with the refunded plan: its period's allowance, an
        upgrade's or a rollover; not another plan's (the default plan's, granted the same
        moment the plan was bought)."""
        grant = present(
            ledger_repository.read_grant_for_correction(connection, grant_id),
            "a grant with credits is read back",
        )
        plan = grant.metadata.get("plan")
        return plan is None or plan == row.plan_id

    @staticmethod
    def _check_paid(row: Any, status: PaymentStatus) -> None:
        if status is not PaymentStatus.SUCCEEDED:
            reason = "" if row.failure_reason is None else f" ({row.failure_reason})"
            raise RefundRefused(
                row.id, f"the payment is {status.value}{reason}: nothing was paid to refund"
            )

    def _check_refundable(self, row: Any, status: PaymentStatus, now: datetime) -> None:
        if PaymentKind(row.kind) not in (PaymentKind.PACK, PaymentKind.TOP_UP):
            raise RefundRefused(row.id, "only credit purchases (packs, top-ups) are refunded")
        if status is not PaymentStatus.SUCCEEDED:
            reason = "" if row.failure_reason is None else f" ({row.failure_reason})"
            raise RefundRefused(
                row.id, f"the payment is {status.value}{reason}: nothing was paid to refund"
            )
        require(row.grant_id is not None, "a succeeded purchase has its grant", f"payment {row.id}")
        window_end = row.succeeded_at + self._refund_window
        if now > window_end:
            raise RefundRefused(row.id, f"the refund window ended at {window_end.isoformat()}")

    def _return_money(self, row: Any) -> Any:
        """The provider's part of a refund, outside any transaction, then recorded."""
        refund_id = None
        if row.refunded_minor > 0:
            require(
                row.provider_payment_id is not None,
                "a payment refunded at its provider has the provider's id",
                f"payment {row.id}",
            )
            refund_id = self._provider.refund(
                row.provider_payment_id,
                Money(row.refunded_minor, row.currency),
                provider_refund_key(row.id),
            )

        def record(context: UnitOfWork) -> Any:
            current = repository.read_payment(context.connection, row.id)
            if current.status == PaymentStatus.REFUNDING:
                values = {
                    "status": PaymentStatus.REFUNDED.value,
                    "provider_refund_id": refund_id,
                    "updated_at": context.now,
                }
                repository.update_payment(
                    context.connection, row.id, PaymentStatus.REFUNDING.value, values
                )
                announce_payment_refunded(
                    context.connection, context.customers[row.external_id].id, current, context.now
                )
            return repository.read_payment(context.connection, row.id)

        return self._ledger.locked_write([row.external_id], record)

    def refunded_at_provider(
        self,
        connection: Connection,
        holder: CustomerRow,
        row: Any,
        event: ProviderEvent,
        now: datetime,
    ) -> None:
        """A refund made at the provider (Stripe's dashboard): the purchase's unused credits
        are taken back once, under the same key as a refund made here; one made here and
        echoed back by the provider takes nothing more."""
        status = PaymentStatus(row.status)
        values: dict[str, Any] = {"status": PaymentStatus.REFUNDED.value, "updated_at": now}
        if status is PaymentStatus.REFUNDING:
            repository.update_payment(connection, row.id, status.value, values)
            return
        if status is not PaymentStatus.SUCCEEDED:
            return
        if row.grant_id is not None:
            self._ledger.post_refund(
                connection, holder, refund_key(row.id), row.grant_id, now,
                {"payment_id": row.id, "refunded_at_provider": True},
            )  # fmt: skip
        refunded = event.amount_refunded_minor
        values["refunded_minor"] = (
            row.amount_minor if refunded is None else min(refunded, row.amount_minor)
        )
        repository.update_payment(connection, row.id, status.value, values)
        announce_payment_refunded(
            connection, holder.id, repository.read_payment(connection, row.id), now
        )

    def _refund_view(self, row: Any) -> Refund:
        if PaymentKind(row.kind) in PLAN_KINDS:
            return self._plan_refund_view(row)
        with self._database.read() as connection:
            taken = ledger_repository.find_transaction(connection, refund_key(row.id))
            holding = present(
                ledger_repository.grant_holding(connection, row.grant_id),
                "a refunded purchase's grant is held",
            )
        unit = self._ledger.unit(holding.unit)
        credits = unit.to_quantity(0 if taken is None else taken.amount)
        return Refund(
            row.id,
            PaymentStatus(row.status),
            unit.name,
            credits,
            Money(row.refunded_minor or 0, row.currency),
        )

    def _plan_refund_view(self, row: Any) -> Refund:
        with self._database.read() as connection:
            unit = self._allowance_unit(row.plan_id)
            taken = repository.taken_back_under(
                connection, row.customer_id, unit or "credits", refund_grants_prefix(row.id)
            )
        unit_ = self._ledger.unit(unit or "credits")
        return Refund(
            row.id,
            PaymentStatus(row.status),
            unit_.name,
            unit_.to_quantity(taken),
            Money(row.refunded_minor or 0, row.currency),
        )

    def _allowance_unit(self, plan_id: str) -> str | None:
        """The unit of the plan's allowance, as the catalog sells it; None without one."""
        try:
            allowance = self._catalog.plan(plan_id).allowance
        except UnknownPlan:
            return None
        return allowance.unit if isinstance(allowance, Allowance) else None


def announce_payment_refunded(
    connection: Connection, customer_id: int, row: Any, now: datetime
) -> None:
    """``payment.refunded``, once, as the refund is recorded (here or at the provider)."""
    emit(
        connection,
        EventType.PAYMENT_REFUNDED,
        customer_id,
        {
            "payment_id": row.id,
            "kind": row.kind,
            "pack": row.pack_id,
            "plan": row.plan_id,
            "amount_minor": row.amount_minor,
            "refunded_minor": row.refunded_minor or 0,
            "currency": row.currency,
        },
        now,
    )
