"""Every idempotency key creditkit derives, in one place: from a caller's key (each write of one
call keyed apart from the others), for the engine's own writes (renewals, expiries, refunds:
written once however often the work runs), and for the calls it makes to a payment provider.

These keys are stored: in the ledger's transactions, in the API's stored answers, at the
provider. A retry, a second worker or a newer release finds the first write by its key, so the
format of each key never changes (tests/test_derived_keys.py holds each to its text).
"""

from __future__ import annotations

from datetime import date

# --- From a caller's key --------------------------------------------------------------------


def reserve_key(key: str) -> str:
    """The hold a ``metered``, ``metered_tokens`` or ``lease`` opens."""
    return f"{key}:reserve"


def commit_key(key: str) -> str:
    """The commit that settles a metered hold."""
    return f"{key}:commit"


def release_key(key: str) -> str:
    """The release of a metered hold whose work failed."""
    return f"{key}:release"


def extend_key(key: str, step: int | str) -> str:
    """The ``step``-th extension of a metered hold (``"actual"``: the one to the usage)."""
    return f"{key}:extend:{step}"


def held_commit_key(key: str) -> str:
    """The commit of a token meter's hold as held, when its usage cannot be priced."""
    return f"{key}:commit:held"


def partial_commit_key(key: str, step: int) -> str:
    """A lease's ``step``-th report of what it spent (a partial commit)."""
    return f"{key}:commit:{step}"


def final_commit_key(key: str) -> str:
    """A lease's last commit, that closes its hold."""
    return f"{key}:final"


def bonus_key(key: str) -> str:
    """The bonus grant of a pack bought with credits under ``key``."""
    return f"{key}:bonus"


def console_key(action: str, key: str) -> str:
    """An operator console form's write (``action``: ``adjustment``, ``period-reset``)."""
    return f"console:{action}:{key}"


def page_key(key: str) -> str:
    """A billing page form's write, apart from the same key sent to the API."""
    return f"web:{key}"


def session_key(customer: str, key: str) -> str:
    """A customer session's key, apart from every other customer's same key."""
    return f"session:{customer}:{key}"


# --- The engine's own writes ----------------------------------------------------------------


def debt_repayment_key(grant_id: int) -> str:
    return f"creditkit:debt-repayment:{grant_id}"


def hold_release_key(hold_id: int) -> str:
    """The release of a child hold with its parent."""
    return f"creditkit:hold-release:{hold_id}"


def hold_expiry_key(hold_id: int) -> str:
    return f"creditkit:hold-expiry:{hold_id}"


def grant_expiry_key(grant_id: int) -> str:
    return f"creditkit:grant-expiry:{grant_id}"


def payment_key(payment_id: int) -> str:
    """The grant of a paid pack."""
    return f"creditkit:payment:{payment_id}"


def payment_bonus_key(payment_id: int) -> str:
    """The bonus grant of a paid pack."""
    return f"creditkit:payment:{payment_id}:bonus"


def refund_key(payment_id: int) -> str:
    """The credits a refund of ``payment_id`` takes back (its own grant's)."""
    return f"creditkit:refund:{payment_id}"


def refund_bonus_key(payment_id: int) -> str:
    return f"creditkit:refund:{payment_id}:bonus"


def refund_grant_key(payment_id: int, grant_id: int) -> str:
    """The credits a refund takes back from one of the grants the payment made."""
    return f"{refund_grants_prefix(payment_id)}{grant_id}"


def refund_grants_prefix(payment_id: int) -> str:
    """What every ``refund_grant_key`` of ``payment_id`` starts with."""
    return f"creditkit:refund:{payment_id}:"


def renewal_key(subscription_id: int, period_start_stamp: int) -> str:
    """A renewal's payment (``period_start_stamp``: epoch microseconds)."""
    return f"creditkit:renewal:{subscription_id}:{period_start_stamp}"


def top_up_key(customer_id: int, day: date, number: int) -> str:
    """The ``number``-th automatic top-up of the customer's ``day``."""
    return f"creditkit:top-up:{customer_id}:{day:%Y-%m-%d}:{number}"


def invoice_key(provider: str, invoice_id: str) -> str:
    """The renewal a provider's paid invoice records."""
    return f"creditkit:invoice:{provider}:{invoice_id}"


def proration_key(subscription_id: int, version_id: int, stamp: int) -> str:
    return f"creditkit:proration:{subscription_id}:{version_id}:{stamp}"


def upgrade_allowance_key(
    subscription_id: int, version_id: int, anchor_stamp: int, period_index: int
) -> str:
    return (
        f"creditkit:upgrade-allowance:{subscription_id}:{version_id}:{anchor_stamp}:{period_index}"
    )


def fee_key(subscription_id: int, version_id: int, anchor_stamp: int, period_index: int) -> str:
    """A period's fee paid in money."""
    return f"creditkit:fee:{subscription_id}:{version_id}:{anchor_stamp}:{period_index}"


def fee_credits_key(
    subscription_id: int, version_id: int, anchor_stamp: int, period_index: int
) -> str:
    """A period's fee paid in credits."""
    return f"creditkit:fee-credits:{subscription_id}:{version_id}:{anchor_stamp}:{period_index}"


def allowance_key(subscription_id: int, version_id: int, run_stamp: str, period_index: int) -> str:
    return f"creditkit:allowance:{subscription_id}:{version_id}:{run_stamp}:{period_index}"


def overage_carry_key(subscription_id: int, period_end_stamp: int) -> str:
    return f"creditkit:overage-carry:{subscription_id}:{period_end_stamp}"


def overage_key(subscription_id: int, period_end_stamp: int) -> str:
    return f"creditkit:overage:{subscription_id}:{period_end_stamp}"


def overage_correction_key(transaction_id: int) -> str:
    return f"creditkit:overage-correction:{transaction_id}"


def rollover_key(kind: str, subscription_id: int, stamp: int) -> str:
    """A rollover's moves (``kind``: ``rollover``, ``reset-rollover``)."""
    return f"creditkit:{kind}:{subscription_id}:{stamp}"


def rollover_top_up_key(kind: str, subscription_id: int, stamp: int) -> str:
    return f"creditkit:{kind}-top-up:{subscription_id}:{stamp}"


# --- Calls to a payment provider ------------------------------------------------------------


def checkout_session_key(payment_id: int) -> str:
    return f"creditkit-checkout-{payment_id}"


def collection_key(payment_id: int, attempt: int) -> str:
    """The ``attempt``-th collection of a due payment from the saved card."""
    return f"creditkit-charge-{payment_id}-{attempt}"


def provider_refund_key(payment_id: int) -> str:
    return f"creditkit-refund-{payment_id}"


def provider_customer_key(customer: str) -> str:
    return f"creditkit-customer-{customer}"


def provider_price_key(lookup_key: str) -> str:
    return f"creditkit-price-{lookup_key}"


def provider_product_key(product_id: str) -> str:
    return f"creditkit-product-{product_id}"


def provider_change_key(revision: str, plan_id: str, interval: str) -> str:
    return f"creditkit-change-{revision}-{plan_id}-{interval}"


def provider_cancel_key(revision: str, at_period_end: bool) -> str:
    return f"creditkit-cancel-{revision}-{'period-end' if at_period_end else 'now'}"


def provider_end_key(subscription_id: str) -> str:
    return f"creditkit-end-{subscription_id}"


def provider_step_key(key: str, step: str) -> str:
    """One step of a provider call keyed ``key`` (``release``, ``resume``, ``schedule``,
    ``coupon``)."""
    return f"{key}-{step}"
