"""The TypeScript client (clients/typescript/src/client.ts) offers every method of the one
declaration, ``CreditsApi``, under its camelCase name, bar those listed here with why; and what
it offers beyond it is listed too. Read from the source, so it needs no node."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from creditkit.client import CreditsApi

CLIENT_TS = Path(__file__).resolve().parents[2] / "clients" / "typescript" / "src" / "client.ts"
#: A method of the class body: two spaces in, optionally async, a name, type parameters, "(".
METHOD = re.compile(r"^  (?:async )?(?P<name>[a-z]\w*)\s*(?:<[^>(]*>)?\(", re.MULTILINE)

#: What the declaration has and the TypeScript client does not, and why. Empty: every method is
#: there; add one here only with its reason.
PYTHON_ONLY: dict[str, str] = {}
#: What the TypeScript client has beyond the declaration, and why.
TYPESCRIPT_ONLY = {
    "actionCost": "the public catalog's price of an action (GET /v1/catalog/action-costs)",
    "actionCosts": "the same list, read once and cached by the client",
    "issueSession": "CreditKit.keys.issue_session on the kit; Client.issue_session in Python",
    "session": "who a session token's holder is: over HTTP only (the kit has no caller)",
    "sessionLink": "a session token as a link to the hosted pages: over HTTP only",
    "limits": "usageOfLimits's former name, kept (deprecated) for existing callers",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _declared() -> set[str]:
    return {
        name
        for name, value in inspect.getmembers(CreditsApi)
        if not name.startswith("_") and callable(value)
    }


def _typescript_methods() -> set[str]:
    source = CLIENT_TS.read_text()
    start = source.index("export class Client {")
    end = source.index("\n}\n", start)
    names = {match["name"] for match in METHOD.finditer(source, start, end)}
    return names - {"constructor"}


def test_the_parser_finds_the_typescript_clients_methods() -> None:
    methods = _typescript_methods()
    assert {"charge", "createCustomer", "usageOfLimits", "webhookDeliveries"} <= methods
    assert "if" not in methods and "return" not in methods


def test_every_declared_method_is_in_the_typescript_client_or_listed() -> None:
    declared = {_camel(name): name for name in _declared()}
    methods = _typescript_methods()
    missing = {name for camel, name in declared.items() if camel not in methods}
    assert missing == set(PYTHON_ONLY)
    assert methods - set(declared) == set(TYPESCRIPT_ONLY)
