"""creditkit import: CSV rows onto plans and credit amounts, rerunnable, failures by line."""

from collections.abc import Callable
from pathlib import Path

import pytest

from creditkit import CreditKit
from creditkit.cli import main
from creditkit.importer import import_file

SEED_002 = Path(__file__).parents[1] / "examples" / "seed_002_devops_agent" / "catalog.yaml"

CSV = """customer,kind,plan,credits,expires_at
alice,user,starter,,
bob,user,,250,
carol,workspace,business,40,2027-01-01T00:00:00+00:00
dave,user,platinum,,
erin,user,,-5,
"""


@pytest.fixture
def migrating(make_kit: Callable[..., CreditKit], tmp_path: Path) -> tuple[CreditKit, Path]:
    path = tmp_path / "users.csv"
    path.write_text(CSV, encoding="utf-8")
    return make_kit(catalog=SEED_002), path


def test_rows_go_in_and_failures_name_their_line(migrating: tuple[CreditKit, Path]) -> None:
    ck, path = migrating
    progress: list[tuple[int, int]] = []
    summary = import_file(ck, path, lambda done, total: progress.append((done, total)))
    assert (summary.rows, summary.customers_created, summary.subscribed, summary.granted) == (
        5,
        3,
        2,
        2,
    )
    assert [line for line, _reason in summary.failures] == [5, 6]
    assert "platinum" in summary.failures[0][1]
    assert "credits" in summary.failures[1][1]
    # A row that fails creates no customer: fixing the file and rerunning starts it cleanly.
    assert {customer.id for customer in ck.customers().items} == {"alice", "bob", "carol"}
    assert progress[-1] == (5, 5)
    alice = ck.subscription("alice")
    assert alice is not None and alice.plan == "starter"
    assert ck.balance("bob").available == 20 + 250
    assert ck.customer("carol").kind == "workspace"
    assert ck.audit().ok


def test_a_rerun_changes_nothing(migrating: tuple[CreditKit, Path]) -> None:
    ck, path = migrating
    import_file(ck, path)
    again = import_file(ck, path)
    assert (again.customers_created, again.subscribed, again.granted, again.unchanged) == (
        0,
        0,
        0,
        3,
    )
    assert ck.balance("bob").available == 20 + 250


def test_unknown_columns_are_refused(make_kit: Callable[..., CreditKit], tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("customer,credit\nx,5\n", encoding="utf-8")
    with pytest.raises(ValueError, match="credit"):
        import_file(make_kit(), path)


def test_the_command_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "users.csv"
    path.write_text("customer,credits\nzed,12\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert main(["import", str(path), "--database-url", url]) == 0
    assert "1 rows: 1 customers created, 0 subscribed, 1 granted" in capsys.readouterr().out
