"""The idempotency keys creditkit derives keep their text: ledgers, stored answers and payment
providers hold keys made by earlier releases, and a retry finds its first write only by the same
key. And every derived key is made in creditkit.derived_keys, nowhere else."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

import creditkit
from creditkit import derived_keys as keys

SOURCE = Path(creditkit.__file__).parent


@pytest.mark.parametrize(
    ("made", "text"),
    [
        (keys.reserve_key("k"), "k:reserve"),
        (keys.commit_key("k"), "k:commit"),
        (keys.release_key("k"), "k:release"),
        (keys.extend_key("k", 2), "k:extend:2"),
        (keys.extend_key("k", "actual"), "k:extend:actual"),
        (keys.held_commit_key("k"), "k:commit:held"),
        (keys.partial_commit_key("k", 3), "k:commit:3"),
        (keys.final_commit_key("k"), "k:final"),
        (keys.bonus_key("k"), "k:bonus"),
        (keys.console_key("adjustment", "k"), "console:adjustment:k"),
        (keys.console_key("period-reset", "k"), "console:period-reset:k"),
        (keys.page_key("k"), "web:k"),
        (keys.session_key("alice", "k"), "session:alice:k"),
        (keys.debt_repayment_key(7), "creditkit:debt-repayment:7"),
        (keys.hold_release_key(7), "creditkit:hold-release:7"),
        (keys.hold_expiry_key(7), "creditkit:hold-expiry:7"),
        (keys.grant_expiry_key(7), "creditkit:grant-expiry:7"),
        (keys.payment_key(7), "creditkit:payment:7"),
        (keys.payment_bonus_key(7), "creditkit:payment:7:bonus"),
        (keys.refund_key(7), "creditkit:refund:7"),
        (keys.refund_bonus_key(7), "creditkit:refund:7:bonus"),
        (keys.refund_grant_key(7, 9), "creditkit:refund:7:9"),
        (keys.refund_grants_prefix(7), "creditkit:refund:7:"),
        (keys.renewal_key(7, 1_700_000_000_000_000), "creditkit:renewal:7:1700000000000000"),
        (keys.top_up_key(7, date(2026, 3, 4), 2), "creditkit:top-up:7:2026-03-04:2"),
        (keys.invoice_key("stripe", "in_1"), "creditkit:invoice:stripe:in_1"),
        (keys.proration_key(7, 3, 55), "creditkit:proration:7:3:55"),
        (keys.upgrade_allowance_key(7, 3, 55, 1), "creditkit:upgrade-allowance:7:3:55:1"),
        (keys.fee_key(7, 3, 55, 1), "creditkit:fee:7:3:55:1"),
        (keys.fee_credits_key(7, 3, 55, 1), "creditkit:fee-credits:7:3:55:1"),
        (keys.allowance_key(7, 3, "55", 1), "creditkit:allowance:7:3:55:1"),
        (keys.overage_carry_key(7, 55), "creditkit:overage-carry:7:55"),
        (keys.overage_key(7, 55), "creditkit:overage:7:55"),
        (keys.overage_correction_key(7), "creditkit:overage-correction:7"),
        (keys.rollover_key("rollover", 7, 55), "creditkit:rollover:7:55"),
        (keys.rollover_key("reset-rollover", 7, 55), "creditkit:reset-rollover:7:55"),
        (keys.rollover_top_up_key("rollover", 7, 55), "creditkit:rollover-top-up:7:55"),
        (keys.checkout_session_key(7), "creditkit-checkout-7"),
        (keys.collection_key(7, 2), "creditkit-charge-7-2"),
        (keys.provider_refund_key(7), "creditkit-refund-7"),
        (keys.provider_customer_key("alice"), "creditkit-customer-alice"),
        (keys.provider_price_key("pro_month"), "creditkit-price-pro_month"),
        (keys.provider_product_key("prod_1"), "creditkit-product-prod_1"),
        (keys.provider_change_key("r1", "pro", "month"), "creditkit-change-r1-pro-month"),
        (keys.provider_cancel_key("r1", True), "creditkit-cancel-r1-period-end"),
        (keys.provider_cancel_key("r1", False), "creditkit-cancel-r1-now"),
        (keys.provider_end_key("sub_1"), "creditkit-end-sub_1"),
        (keys.provider_step_key("k", "coupon"), "k-coupon"),
    ],
)
def test_a_derived_key_keeps_its_text(made: str, text: str) -> None:
    assert made == text


def _is_made_key(node: ast.AST) -> bool:
    """An f-string that makes a key: passed as ``idempotency_key=``, or spelling creditkit's own
    key prefixes (``creditkit:kind:...``, ``creditkit-kind-...``; not a ``creditkit: `` message)."""
    if not isinstance(node, ast.JoinedStr) or not node.values:
        return False
    first = node.values[0]
    head = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""
    return head.startswith(("creditkit-", "console:", "session:", "web:")) or (
        head.startswith("creditkit:") and head[len("creditkit:") :][:1] not in ("", " ")
    )


#: Modules that make keys of their own, as any caller of the kit does: not derived keys.
CALLERS = {
    SOURCE / "derived_keys.py",
    # `creditkit demo` charges as an app would, with the app's own keys.
    SOURCE / "demo.py",
}


def test_every_derived_key_is_made_in_one_module() -> None:
    made_elsewhere = []
    for path in sorted(SOURCE.rglob("*.py")):
        if path in CALLERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            keyword_key = (
                isinstance(node, ast.keyword)
                and node.arg == "idempotency_key"
                and isinstance(node.value, ast.JoinedStr)
            )
            if keyword_key or _is_made_key(node):
                made_elsewhere.append(f"{path.relative_to(SOURCE)}:{getattr(node, 'lineno', '?')}")
    assert made_elsewhere == []
