import sqlalchemy as sa

from creditkit import CreditKit


def _tamper(database_url: str, *statements: str) -> None:
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    engine.dispose()


def test_audit_is_clean_and_counts_what_it_checked(ck: CreditKit) -> None:
    ck.grant("u1", 10, idempotency_key="g1")
    ck.charge("u1", 3, idempotency_key="c1")
    report = ck.audit()
    assert report.ok
    assert report.problems == ()
    assert (report.transactions_checked, report.entries_checked) == (2, 4)


def test_audit_catches_a_cached_balance_changed_behind_the_ledger(
    ck: CreditKit, database_url: str
) -> None:
    grant = ck.grant("u1", 10, idempotency_key="g1")
    # On PostgreSQL the guard trigger refuses this; an operator with the rights to disable it
    # can still do it, and audit() must then say so.
    statements = [f"UPDATE accounts SET balance = 11 WHERE id = {grant.id}"]
    if database_url.startswith("postgresql"):
        statements = [
            "ALTER TABLE accounts DISABLE TRIGGER accounts_guard",
            *statements,
            "ALTER TABLE accounts ENABLE TRIGGER accounts_guard",
        ]
    _tamper(database_url, *statements)
    report = ck.audit()
    assert not report.ok
    assert {problem.rule for problem in report.problems} == {"cached_balance"}
    assert str(grant.id) in report.problems[0].detail
