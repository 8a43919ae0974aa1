"""Persistence: ports (``ports.py``), in-memory implementations (``memory.py``) and the
SQLAlchemy implementation on SQLite or PostgreSQL (``sql/``)."""
