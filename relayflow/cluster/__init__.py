"""Distributed mode's building blocks (issue #6): the job queue, the event bus, the cache, and
execution leases with the outbox. ``ports.py`` names the protocols; each has an in-memory
implementation (the embedded default and the unit-test fake) and a real one (RabbitMQ, Redis,
PostgreSQL), and one contract suite runs against both.

Nothing here is imported by ``relayflow start`` in the embedded mode: the roles wire it in.
"""
