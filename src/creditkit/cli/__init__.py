"""creditkit: credits, subscriptions and entitlements for AI products.

Every user mistake ends in one line on stderr, ``creditkit: …``, naming what is wrong and what to
do, and a non-zero exit; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from creditkit.cli.commands import (
    keys,
    migrate,
    parked_events,
    reset_period,
    revoke_sessions,
    rotate_signing_secret,
    run_audit,
    run_demo,
    run_import,
    run_ingest_worker,
    run_serve,
    secret_key,
    session_link,
    stripe_command,
    webhooks,
)
from creditkit.cli.parser import build_parser
from creditkit.cli.worker import run_worker
from creditkit.cli_errors import defect, explain

_COMMANDS: dict[str, Any] = {
    "demo": run_demo,
    "migrate": migrate,
    "import": run_import,
    "serve": run_serve,
    "keys": keys,
    "link": session_link,
    "webhooks": webhooks,
    "secret-key": secret_key,
    "worker": run_worker,
    "ingest-worker": run_ingest_worker,
    "parked-events": parked_events,
    "audit": run_audit,
    "reset-period": reset_period,
    "revoke-sessions": revoke_sessions,
    "rotate-signing-secret": rotate_signing_secret,
    "stripe": stripe_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        return int(_COMMANDS[arguments.command](arguments))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        line = explain(error, arguments)
        if arguments.debug or line is None:
            if (said := defect(error)) is not None:
                print(f"creditkit: {said}", file=sys.stderr)
            raise
        print(f"creditkit: {line}", file=sys.stderr)
        return 1
