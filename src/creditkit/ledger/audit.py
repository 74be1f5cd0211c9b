"""``audit()``: proves the ledger's rules from the rows themselves.

Each check is one aggregate query, so the audit costs a few sequential scans however large the
ledger is, and it is cheap enough to run in CI on a ledger of millions of entries.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from creditkit.ledger.schemas import AuditProblem, AuditReport

#: A broken ledger reports at most this many problems per rule: enough to act on, without
#: turning one systematic fault into a million-line report.
PROBLEMS_PER_RULE_MAX = 20

_CHECKS: list[tuple[str, str, str]] = [
    (
        "balanced",
        "entries of every transaction sum to zero in every unit",
        """SELECT transaction_id, unit, SUM(amount) FROM entries
           GROUP BY transaction_id, unit HAVING SUM(amount) <> 0""",
    ),
    (
        "unit_totals",
        "all entries of a unit sum to zero",
        """SELECT unit, SUM(amount) FROM entries GROUP BY unit HAVING SUM(amount) <> 0""",
    ),
    (
        "cached_balance",
        "every cached balance equals the sum of its account's entries",
        """SELECT a.id, a.balance, COALESCE(e.total, 0) FROM accounts a
           LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM entries GROUP BY account_id) e
             ON e.account_id = a.id
           WHERE a.balance IS NOT NULL AND a.balance <> COALESCE(e.total, 0)""",
    ),
    (
        "not_negative",
        "no grant or hold holds less than zero",
        """SELECT id, kind, balance FROM accounts
           WHERE kind IN ('grant', 'hold') AND (balance IS NULL OR balance < 0)""",
    ),
    (
        "debt_not_positive",
        "a debt account holds zero or less (what the customer owes), never more",
        """SELECT id, balance FROM accounts
           WHERE kind = 'debt' AND (balance IS NULL OR balance > 0)""",
    ),
    (
        "hold_balance",
        "an active hold's account holds its amount less what it committed, exactly when no hold"
        " was taken under it and at most otherwise (its children took the rest); a closed"
        " hold's holds nothing",
        """SELECT h.account_id, h.status, a.balance FROM holds h
           JOIN accounts a ON a.id = h.account_id
           WHERE (h.status = 'active'
                  AND a.balance > h.amount_held - COALESCE(h.amount_committed, 0))
              OR (h.status = 'active'
                  AND a.balance <> h.amount_held - COALESCE(h.amount_committed, 0)
                  AND NOT EXISTS (SELECT 1 FROM holds c WHERE c.parent_id = h.account_id))
              OR (h.status <> 'active' AND a.balance <> 0)""",
    ),
    (
        "hold_tree",
        "a hold taken under another has its parent's customer and unit, is one level below it,"
        " times out no later than it, and is closed when its parent is",
        """SELECT c.account_id, c.parent_id FROM holds c
           JOIN holds p ON p.account_id = c.parent_id
           WHERE c.customer_id <> p.customer_id OR c.unit <> p.unit
              OR c.depth <> p.depth + 1 OR c.expires_at > p.expires_at
              OR (p.status <> 'active' AND c.status = 'active')""",
    ),
    (
        "grant_issued",
        "every grant received exactly its granted amount when it was made",
        """SELECT g.account_id, g.amount_granted, e.amount FROM grants g
           LEFT JOIN entries e ON e.transaction_id = g.transaction_id
                              AND e.account_id = g.account_id
           WHERE e.amount IS NULL OR e.amount <> g.amount_granted""",
    ),
    (
        "applied_has_entries",
        "an applied transaction wrote entries (but one of a hold that moved nothing: an extend"
        " of its timeout only, or the close of a hold committed in full in parts; or a period"
        " reset with nothing left to expire); a refused one wrote none",
        """SELECT t.id, t.status, COUNT(e.id) FROM transactions t
           LEFT JOIN entries e ON e.transaction_id = t.id
           GROUP BY t.id, t.status, t.kind, t.amount
           HAVING (t.status = 'applied' AND COUNT(e.id) = 0
                   AND NOT (t.amount = 0
                            AND t.kind IN ('extend', 'commit', 'release', 'hold_expiry',
                                           'period_reset')))
               OR (t.status = 'refused' AND COUNT(e.id) > 0)""",
    ),
]


def audit(connection: Connection) -> AuditReport:
    problems: list[AuditProblem] = []
    for rule, statement, query in _CHECKS:
        rows = connection.exec_driver_sql(f"{query} LIMIT {PROBLEMS_PER_RULE_MAX}").fetchall()
        problems.extend(
            AuditProblem(rule, f"{statement}; violated by {tuple(row)}") for row in rows
        )
    counts = connection.exec_driver_sql(
        "SELECT (SELECT COUNT(*) FROM transactions), (SELECT COUNT(*) FROM entries),"
        " (SELECT COUNT(*) FROM accounts)"
    ).one()
    return AuditReport(
        problems=tuple(problems),
        transactions_checked=counts[0],
        entries_checked=counts[1],
        accounts_checked=counts[2],
    )
