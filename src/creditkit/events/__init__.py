"""Usage events through a JetStream stream: ``creditkit serve --events`` publishes ``POST
/v1/events`` to it (events/publisher.py), ``creditkit ingest-worker`` charges what it holds
(events/worker.py); docs/events.md. Import the modules themselves: this package loads nothing,
so that the API's error table does not load the NATS client."""
