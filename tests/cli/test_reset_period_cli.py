"""``creditkit reset-period``: an operator's manual reset from the shell, run as the user runs
it (the installed command, in a process); a mistake is one line."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import one_line, run

from creditkit import CreditKit
from creditkit.notify.sealing import new_secret_key

CATALOG = """
units: {credits: {scale: 0}}
plans:
  free: {name: Free, default: true, rank: 0}
  pro: {name: Pro, rank: 1, prices: {month: {amount: 1000, currency: USD}},
        allowance: {amount: 100, unit: credits, period: day}}
"""


def test_reset_period_from_the_shell(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'credits.db'}"
    secret = new_secret_key()
    with CreditKit(url, catalog=catalog, secret_key=secret) as kit:
        kit.create_customer("ada")
        kit.subscribe("ada", "pro", collected_elsewhere=True)
        kit.charge("ada", 60, idempotency_key="c1")
    arguments = ("--reason", "support", "--idempotency-key", "r1", "--database-url", url,
                 "--catalog", str(catalog))  # fmt: skip
    done = run("reset-period", "ada", *arguments, cwd=tmp_path, CREDITKIT_SECRET_KEY=secret)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ada: allowance period ")
    with CreditKit(url, catalog=catalog, secret_key=secret) as kit:
        assert kit.balance("ada").available == 100
        resets = [item for item in kit.history("ada").items if item.kind.value == "period_reset"]
        assert [(item.amount, item.metadata["reason"]) for item in resets] == [(40, "support")]
        assert kit.audit().ok
    unknown = run("reset-period", "bob", *arguments, cwd=tmp_path, CREDITKIT_SECRET_KEY=secret)
    one_line(unknown, "bob")
