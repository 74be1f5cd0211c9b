from creditkit import CreditKit


def test_grant_charge_balance(ck: CreditKit) -> None:
    ck.grant("u1", 100, idempotency_key="g1")
    ck.charge("u1", 30, idempotency_key="c1")
    assert ck.balance("u1").available == 70
    assert ck.audit().ok
