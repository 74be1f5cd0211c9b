"""Who may do what: ``Authorization: Bearer <secret key | session token>``.

A secret key acts for any customer within its scope. A session token acts for its one customer
only, with its permissions; for a workspace, buying, changing the plan, gifting and managing
members also need the token's user to be the workspace's owner or an admin (checked at each
request: a demoted member loses them at once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from creditkit.api.problems import ApiProblem
from creditkit.api.throttle import FAILURES_PER_MINUTE_MAX, FailedAuthThrottle
from creditkit.derived_keys import session_key
from creditkit.entitlements.schemas import Role
from creditkit.errors import CreditKitError
from creditkit.keys.schemas import Caller, Scope, SessionPermission
from creditkit.kit import CreditKit
from creditkit.ledger.schemas import CustomerKind

bearer = HTTPBearer(
    auto_error=False,
    description="A secret API key (ck_secret_…) or a customer session token (cks_…).",
)
#: The credentials of a request, as an endpoint that authenticates in its own thread takes them.
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
Result = TypeVar("Result")

#: Session permissions that, in a workspace, only its owner and admins hold.
_WORKSPACE_MANAGERS_ONLY = frozenset(
    {SessionPermission.BUY, SessionPermission.GIFT, SessionPermission.MANAGE}
)
_MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="creditkit"'}
    )


#: Dependencies looked through for the bearer scheme, at most (a route has a handful).
_DEPENDENCIES_WALKED_MAX = 256


def takes_credentials(route: object) -> bool:
    """Whether ``route`` authenticates its requests: some dependency of it reads the bearer
    credentials (the same fact puts ``security`` on its operation in the OpenAPI document)."""
    if not isinstance(route, APIRoute):
        return False
    waiting: list[Dependant] = [route.dependant]
    for _walked in range(_DEPENDENCIES_WALKED_MAX):
        if not waiting:
            return False
        dependant = waiting.pop()
        if dependant.call is bearer:
            return True
        waiting.extend(dependant.dependencies)
    raise RuntimeError(f"{route.path}: more than {_DEPENDENCIES_WALKED_MAX} dependencies")


class Access:
    def __init__(
        self, kit: CreditKit, failures_per_minute_max: int = FAILURES_PER_MINUTE_MAX
    ) -> None:
        self._kit = kit
        self.throttle = FailedAuthThrottle(kit, failures_per_minute_max)

    async def refusal(self, request: Request) -> ApiProblem | None:
        """The 401 a request refused as invalid gets instead, when its route takes credentials
        and the request has no valid ones; None otherwise (the validation error stands)."""
        if not takes_credentials(request.scope.get("route")):
            return None
        credentials = await bearer(request)
        try:
            await run_in_threadpool(self.caller, credentials)
        except ApiProblem as refused:
            return refused
        return None

    def caller(self, credentials: Credentials) -> Caller:
        self.throttle.check()
        if credentials is None:
            raise unauthorized("send Authorization: Bearer <secret key or session token>")
        caller = self._kit.keys.authenticate(credentials.credentials)
        if caller is None:
            self.throttle.failed()
            raise unauthorized("the key or token is unknown, revoked or expired")
        return caller

    async def in_thread(self, credentials: Credentials, work: Callable[[Caller], Result]) -> Result:
        """Authenticates the request and does its work in one trip to the thread pool. For the
        hot paths (charges, balances): a sync dependency and a sync endpoint each take a trip,
        and FastAPI validates a sync endpoint's response in a third; each trip costs about a
        tenth of a millisecond of CPU, more than the check or validation it carries."""
        return await run_in_threadpool(lambda: work(self.caller(credentials)))

    @staticmethod
    def key_of(caller: Caller, idempotency_key: str) -> str:
        """The ledger key of a write. A browser's keys are its customer's own: one customer's
        key can never replay (or, in a 409, reveal) another customer's write."""
        if caller.customer is None:
            return idempotency_key
        return session_key(caller.customer, idempotency_key)

    @staticmethod
    def require_scope(caller: Caller, scope: Scope) -> None:
        """Only a secret key with ``scope`` (or a wider one)."""
        if caller.scope is None:
            raise ApiProblem(
                403, "secret_key_required", "this needs a secret key, not a session token"
            )
        if not caller.scope.includes(scope):
            raise ApiProblem(
                403,
                "scope_insufficient",
                f"this needs a key with scope {scope.value!r} or wider",
                required_scope=scope.value,
                key_scope=caller.scope.value,
            )

    def require_customer(
        self,
        caller: Caller,
        customer: str,
        scope: Scope,
        permission: SessionPermission = SessionPermission.READ,
    ) -> None:
        """A secret key with ``scope``, or a session token for ``customer`` with ``permission``
        (and, in a workspace, the role that permission needs)."""
        if caller.scope is not None:
            self.require_scope(caller, scope)
            return
        if caller.customer != customer:
            raise ApiProblem(
                403, "customer_forbidden", "a session token acts for its own customer only"
            )
        if permission not in caller.permissions:
            raise ApiProblem(
                403,
                "permission_missing",
                f"this token may not {permission.value}",
                required_permission=permission.value,
            )
        self._require_member(caller, customer, permission)

    def _require_member(self, caller: Caller, customer: str, permission: SessionPermission) -> None:
        if self._kit.customer(customer).kind is not CustomerKind.WORKSPACE:
            return
        if caller.user is None:
            raise ApiProblem(
                403, "member_required", "a workspace's token must name the member acting"
            )
        try:
            members = {member.user: member.role for member in self._kit.members(customer)}
        except CreditKitError:
            members = {}
        role = members.get(caller.user)
        if role is None:
            raise ApiProblem(403, "member_required", f"{caller.user!r} is not a member")
        if permission in _WORKSPACE_MANAGERS_ONLY and role not in _MANAGER_ROLES:
            raise ApiProblem(
                403,
                "role_insufficient",
                f"only the workspace's owner or an admin may {permission.value}",
                role=role.value,
            )
