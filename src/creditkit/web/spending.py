"""Spending by spender, budgets and the spender tree: the reads behind the dashboard's "By
spender" and "Budgets" sections, the operator console's "Spenders" section, and the insight
"Your top agent this week is Einstein"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from creditkit.kit import CreditKit
from creditkit.ledger.schemas import Budget, Spender
from creditkit.usage.schemas import UsageBreakdown
from creditkit.web.rendering import credits, percent

#: Groups in the "By spender" table; the rest are one "Everything else" row.
SPENDER_ROWS_MAX: Final = 8
#: Spenders whose budgets a page reads (one read each): the first of the tree, oldest first.
BUDGETED_SPENDERS_MAX: Final = 50
#: Spenders a console page lists.
TREE_SPENDERS_MAX: Final = 200
#: Spenders the week's insight ranks: the top of each kind is found among them.
INSIGHT_SPENDERS_MAX: Final = 500
#: Kinds the insights name ("your top agent", "your top API key").
INSIGHT_KINDS_MAX: Final = 3
INSIGHT_DAYS: Final = 7
#: How a kind reads in a sentence, where its id does not (``api_key``: API key).
KIND_WORDS: Final = {"api_key": "API key", "sub_agent": "sub-agent"}


def kind_word(kind: str) -> str:
    return KIND_WORDS.get(kind, kind.replace("_", " "))


@dataclass(frozen=True, slots=True)
class TreeLine:
    """A spender in the tree's order (each under its parent), indented by ``depth``."""

    spender: Spender
    depth: int


@dataclass(frozen=True, slots=True)
class SpendingView:
    """The period's spending by spender, and every budget on the customer and its first
    spenders with what its period used."""

    by_spender: UsageBreakdown | None
    budgets: tuple[Budget, ...]
    tree: tuple[TreeLine, ...]


def spending_view(
    kit: CreditKit, customer: str, start: datetime, end: datetime, unit: str = "credits"
) -> SpendingView:
    """Nothing to show (all empty) for a customer without spenders or budgets."""
    spenders = kit.spenders(customer, limit=TREE_SPENDERS_MAX)
    budgets = list(kit.budgets(customer, unit=unit))
    for spender in spenders[:BUDGETED_SPENDERS_MAX]:
        budgets.extend(kit.budgets(customer, spender=spender.id, unit=unit))
    by_spender = None
    if spenders:
        by_spender = kit.usage_breakdown(
            customer, by="spender", start=start, end=end, unit=unit, limit=SPENDER_ROWS_MAX
        )
    return SpendingView(by_spender, tuple(budgets), tree_order(spenders))


def tree_order(spenders: tuple[Spender, ...]) -> tuple[TreeLine, ...]:
    """Each spender after its parent, siblings oldest first; a spender whose parent is not
    listed (past the page's limit) starts a tree of its own."""
    listed = {spender.id for spender in spenders}
    children: dict[str | None, list[Spender]] = {}
    for spender in spenders:
        parent = spender.parent if spender.parent in listed else None
        children.setdefault(parent, []).append(spender)
    lines: list[TreeLine] = []
    # Depth-first without recursion: the tree is at most 8 deep, the list at most its limit.
    stack = [(spender, 0) for spender in reversed(children.get(None, []))]
    while stack:
        spender, depth = stack.pop()
        lines.append(TreeLine(spender, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(spender.id, [])))
    return tuple(lines)


def spender_insights(kit: CreditKit, customer: str, now: datetime) -> tuple[str, ...]:
    """The week's top spender of each kind ("Your top agent this week is Einstein"), for the
    kinds that spent most, at most ``INSIGHT_KINDS_MAX``."""
    if not kit.spenders(customer, limit=1):
        return ()
    week = kit.usage_breakdown(
        customer,
        by="spender",
        start=now - timedelta(days=INSIGHT_DAYS),
        end=now,
        limit=INSIGHT_SPENDERS_MAX,
    )
    said: list[str] = []
    kinds_said: set[str] = set()
    for group in week.groups:  # largest first: the first of a kind is its top
        if group.key is None or group.kind is None or group.kind in kinds_said:
            continue
        kinds_said.add(group.kind)
        said.append(
            f"Your top {kind_word(group.kind)} this week is {group.key}:"
            f" {credits(group.spent)} credits, {percent(group.share)} of the week's use."
        )
        if len(said) == INSIGHT_KINDS_MAX:
            break
    return tuple(said)
