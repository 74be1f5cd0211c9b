"""The HTTP client stands on its own: importing it loads none of the engine's libraries, and it
offers the embedded kit's methods with the kit's signatures (``CreditsApi``, which mypy checks
both satisfy), bar the differences listed here with their reasons."""

from __future__ import annotations

import inspect
import subprocess
import sys

from creditkit import Client, CreditKit
from creditkit.client import CreditsApi
from creditkit.engine_extra import ENGINE_MODULES

#: What only the embedded kit offers, and why the client does not.
EMBEDDED_ONLY = {
    "alert_crossed": "the API puts it in a charge's answer (ChargeAnswer.alert_crossed)",
    "analytics": "the operator's console reads it in-process (no public route)",
    "billing_portal": "a Stripe billing-portal link: the HTTP route exists, the client lacks it",
    "charge_many": "the batch behind POST /v1/events: the client's ingest sends it",
    "checkout_session": "the sandbox checkout page's own read, served by creditkit itself",
    "customers": "the console's customer list (no public route)",
    "expire": "due work the worker runs",
    "group_commit_stats": "how this process's writes shared transactions: in-process figures",
    "handle_webhook": "the payment provider calls the service, not the app",
    "hit_rate_limit": "the HTTP layer's own rate limit",
    "holds": "the console's list of holds (no public route)",
    "ingest_refusals": "the events worker charges through it; over HTTP ingest answers 202",
    "memberships": "the session pages' own read of a user's workspaces",
    "now": "the kit's injected clock",
    "over_limit": "the HTTP layer's own plan limits check",
    "packs_for_sale": "the 402 and the catalog routes carry it",
    "ping": "GET /healthz",
    "plan_of": "the HTTP layer's own read of a caller's plan",
    "recorded": "the idempotency layer of the HTTP API",
    "remove_credits": "an operator's correction, in the console",
    "run_due_renewals": "due work the worker runs",
    "run_due_top_ups": "due work the worker runs",
    "tick": "due work the worker runs",
    "worker": "the background worker runs beside the engine",
}
#: What only the client offers, and why.
CLIENT_ONLY = {
    "issue_session": "CreditKit.keys.issue_session on the kit",
    "issue_session_code": "CreditKit.keys.issue_session_code on the kit",
    "revoke_sessions": "CreditKit.keys.revoke_sessions on the kit",
    # The embedded kit acts with the database's own authority, not a token's.
    "session": "who a session token's holder is: over HTTP only (the kit has no caller)",
}
#: On both, outside the protocol: whoever made the kit or the client closes it, not the code
#: that is handed a ``CreditsApi``.
LIFECYCLE = {"close"}
#: The client's extra keyword argument: every write may take an Idempotency-Key over HTTP (a
#: new one per call when none is given, reused by its retries).
CLIENT_EXTRA_PARAMETERS = {"idempotency_key"}
#: The kit's parameters the client has no use for: ``rate_limited`` counts an embedded charge
#: against the plan's rate limit, which the HTTP API does for every charge it serves.
KIT_EXTRA_PARAMETERS = {"idempotency_key", "rate_limited"}
#: The kit's parameters the protocol leaves out (each has a default, so the kit satisfies it).
KIT_ONLY_PARAMETERS = frozenset({"rate_limited"})
#: The client's answers that say more than the kit's: a ``ChargeAnswer`` is a ``Charge`` with
#: ``alert_crossed``, which the HTTP layer works out (the kit's ``alert_crossed``); a server with
#: an events stream answers ``ingest`` with ``EventAccepted`` events, charged later.
CLIENT_RICHER_ANSWERS = {
    "charge": ("Charge", "ChargeAnswer"),
    "commit": ("Charge", "ChargeAnswer"),
    "ingest": (
        "list[Charge | CreditKitError]",
        "list[Charge | EventAccepted | CreditKitError]",
    ),
}

#: The protocol's answers wider than the kit's, so that the client's richer ones fit too.
PROTOCOL_WIDER_ANSWERS = {
    "ingest": ("Sequence[Charge | EventAccepted | CreditKitError]", "list[Charge | CreditKitError]")
}


def _public(cls: type) -> set[str]:
    return {
        name
        for name, value in inspect.getmembers(cls)
        if not name.startswith("_") and callable(value)
    }


def _normalized(
    signature: inspect.Signature, extra: set[str]
) -> list[tuple[str, object, object, object]]:
    """The parameters' names, kinds (keyword-only or not), types and defaults, without the
    ``extra`` ones."""
    return [
        (parameter.name, parameter.kind, parameter.annotation, parameter.default)
        for parameter in signature.parameters.values()
        if parameter.name not in extra
    ]


def _declared(
    signature: inspect.Signature, extra: frozenset[str] = frozenset()
) -> list[tuple[str, object, object, bool]]:
    """As ``_normalized``, with whether a parameter has a default instead of its value: the
    protocol declares a default as ``...``; the kit and the client agree on its value."""
    return [
        (parameter.name, parameter.kind, parameter.annotation, parameter.default is not _EMPTY)
        for parameter in signature.parameters.values()
        if parameter.name not in extra
    ]


_EMPTY = inspect.Parameter.empty


def test_importing_the_client_loads_no_engine_library() -> None:
    code = (
        "import sys, creditkit.client; "
        f"print(','.join(m for m in {sorted(ENGINE_MODULES)!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == ""


def test_the_package_still_exports_the_engine_on_first_use() -> None:
    code = (
        "from creditkit import CreditKit, Charge, InsufficientCredits; import sys; "
        "print('sqlalchemy' in sys.modules)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == "True"


def test_every_method_is_on_both_or_listed_with_a_reason() -> None:
    kit, client = _public(CreditKit), _public(Client)
    assert kit - client == set(EMBEDDED_ONLY)
    assert client - kit == set(CLIENT_ONLY)
    assert _public(CreditsApi) == (kit & client) - LIFECYCLE


def test_shared_methods_have_the_same_signature() -> None:
    for name in sorted(_public(CreditKit) & _public(Client) - LIFECYCLE):
        embedded = inspect.signature(getattr(CreditKit, name))
        remote = inspect.signature(getattr(Client, name))
        returns = (embedded.return_annotation, remote.return_annotation)
        assert returns[0] == returns[1] or CLIENT_RICHER_ANSWERS.get(name) == returns, name
        kit_parameters = _normalized(embedded, KIT_EXTRA_PARAMETERS)
        client_parameters = _normalized(remote, CLIENT_EXTRA_PARAMETERS)
        assert kit_parameters == client_parameters, name
        if "idempotency_key" in embedded.parameters:
            # The kit requires a key; the client makes one per call when given none.
            assert remote.parameters["idempotency_key"].default is None, name


def test_the_protocol_declares_the_kits_signatures() -> None:
    """The one declaration: every method of ``CreditsApi`` has the kit's parameters (names,
    order, keyword-only-ness, types, which have defaults) and answer; the test above holds the
    client to the kit, so all three agree."""
    for name in sorted(_public(CreditsApi)):
        declared = inspect.signature(getattr(CreditsApi, name))
        embedded = inspect.signature(getattr(CreditKit, name))
        assert _declared(declared) == _declared(embedded, KIT_ONLY_PARAMETERS), name
        answers = (declared.return_annotation, embedded.return_annotation)
        assert answers[0] == answers[1] or PROTOCOL_WIDER_ANSWERS.get(name) == answers, name
