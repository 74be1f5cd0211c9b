"""What reversals read beside the ledger's own rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from creditkit.store.tables import grants, transactions


def reversed_steps(connection: Connection, charge_id: int) -> int:
    """Steps of the charge given back by applied reversals so far."""
    total = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(transactions.c.amount), 0)).where(
            transactions.c.reverses_id == charge_id, transactions.c.status == "applied"
        )
    ).scalar_one()
    return int(total)


def grant_expiries(
    connection: Connection, account_ids: Sequence[int]
) -> dict[int, datetime | None]:
    """Each grant's ``expires_at`` (None: never), by account id."""
    if not account_ids:
        return {}
    rows = connection.execute(
        sa.select(grants.c.account_id, grants.c.expires_at).where(
            grants.c.account_id.in_(list(account_ids))
        )
    )
    return {row.account_id: row.expires_at for row in rows}
