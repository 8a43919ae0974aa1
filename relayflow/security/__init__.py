"""Security: sealed secrets (this issue's first piece); users, roles, API keys and the SSRF guard
arrive with the rest of issue #4."""
