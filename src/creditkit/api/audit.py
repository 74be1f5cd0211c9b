"""``GET /v1/audit``: the ledger's audit (every rule of the double entry against the rows), for
an operator with an admin key."""

from typing import Annotated

from fastapi import APIRouter, Depends

from creditkit.api.context import Service
from creditkit.keys.schemas import Caller, Scope
from creditkit.ledger.schemas import AuditReport


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["operations"])
    kit, access = service.kit, service.access
    Authenticated = Annotated[Caller, Depends(access.caller)]

    @api.get("/audit", response_model=AuditReport)
    def audit(caller: Authenticated) -> AuditReport:
        """Checks that every transaction balances per unit and every cached balance equals the
        sum of its entries; ``problems`` names each violation (empty when all hold). It reads
        the whole ledger: run it from monitoring every few minutes, not per request."""
        access.require_scope(caller, Scope.ADMIN)
        return kit.audit()

    return api
