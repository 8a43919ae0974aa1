"""What runs inside a sandboxed Python worker (see ``relayflow.sandbox``).

These modules import nothing from relayflow: the sandbox binds only this folder, the Python
install and its site-packages, and runs ``worker.main`` with ``python -I -S``. ``main`` locks the
process down (seccomp, rlimits) and speaks the pipe protocol; ``api`` builds n8n's Python Code
variables (``_input``, ``_json``...) and runs the user's code.
"""
