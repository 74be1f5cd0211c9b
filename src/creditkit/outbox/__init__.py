"""The outbox: the events creditkit reports, written in the transaction of the change they
report (``creditkit.outbox.writer``), and their types (``creditkit.outbox.types``).

It sits below the ledger and every service that emits an event, beside the store; delivery
(webhooks, alerts: ``creditkit.notify``) builds on it. This package's ``__init__`` imports
neither module, so that the types load without SQLAlchemy (the HTTP client reads them)."""
