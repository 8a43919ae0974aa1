"""Typed, encrypted credentials: the type registry (types.py), the service the API uses
(service.py), the engine's vault (vault.py), OAuth2 (oauth2.py) and the testers (testers.py).

Invariants: credential data is stored only sealed (relayflow/security/secrets.py, associated data
the credential's id); secret fields leave the API only as the redacted placeholder; a node gets a
credential only when its workflow's project owns it or it is shared with that project.
"""
