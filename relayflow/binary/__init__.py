"""Binary item data kept out of the items.

``relayflow.engine.binary`` is the node-side API (``ctx.binary``; read its docstring); the
``BinaryStore`` port is in ``relayflow.engine.ports``. Implementations: ``MemoryBinaryStore``
(``relayflow.engine.memory``: ``relayflow run`` and unit tests) and ``FilesystemBinaryStore``
(here: the server's, under ``$RELAYFLOW_HOME/binary`` or ``RELAYFLOW_BINARY_DIR``).
"""

from relayflow.binary.filesystem import FilesystemBinaryStore
from relayflow.engine.binary import BinaryData, key_of, make_entry, pretty_size, stored_keys
from relayflow.engine.memory import MemoryBinaryStore

__all__ = [
    "BinaryData",
    "FilesystemBinaryStore",
    "MemoryBinaryStore",
    "key_of",
    "make_entry",
    "pretty_size",
    "stored_keys",
]
