"""Verifying delivered webhooks as receivers do: with the ``standardwebhooks`` package on PyPI,
and with the npm one under node (tests/notify/node, installed by ``npm ci`` on first use or by
``make test``; offline once installed)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from notify_helpers import Received
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

NODE_PROJECT = Path(__file__).parent / "node"
NPM_CI_TIMEOUT_SECONDS = 300
NODE_TIMEOUT_SECONDS = 60


def python_verifies(request: Received, secret: str) -> bool:
    try:
        Webhook(secret).verify(request.body, request.headers)
    except WebhookVerificationError:
        return False
    return True


def _node_installed() -> None:
    if (NODE_PROJECT / "node_modules" / "standardwebhooks").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to verify webhooks under node (Node 20 or later)")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=NODE_PROJECT,
        check=True,
        timeout=NPM_CI_TIMEOUT_SECONDS,
        capture_output=True,
    )


def node_verifies(checks: list[tuple[Received, str]]) -> list[dict[str, Any]]:
    """What the npm package says of each (request, secret), in one node process."""
    _node_installed()
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is needed to verify webhooks under node")
    deliveries = [
        {
            "secret": secret,
            "body_base64": base64.b64encode(request.body).decode("ascii"),
            "headers": {name.lower(): value for name, value in request.headers.items()},
        }
        for request, secret in checks
    ]
    finished = subprocess.run(
        [node, str(NODE_PROJECT / "verify.mjs")],
        input=json.dumps({"deliveries": deliveries}),
        capture_output=True,
        text=True,
        check=True,
        timeout=NODE_TIMEOUT_SECONDS,
    )
    results: list[dict[str, Any]] = json.loads(finished.stdout)
    return results
