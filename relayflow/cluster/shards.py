"""Which shard queue an execution goes to: consistent hashing with virtual nodes.

Each shard owns ``vnodes`` points on a 64-bit ring (blake2b of ``"<shard>:<vnode>"``); a key
belongs to the shard of the first point at or after the key's own hash, wrapping around. The hash
is blake2b, never Python's ``hash`` (salted per process), so every process of every role computes
the same shard for the same key.

Going from N to N+1 shards only adds points: the keys that move all move to the new shard, about
1/(N+1) of them, and the rest stay where they were.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping

from relayflow.settings import env_int

DEFAULT_VNODES = 64
SHARDS_ENV = "RELAYFLOW_SHARDS"


def _point(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class HashRing:
    """A ShardRouter: ``shard_of(workflow id)`` (or project id for tenant affinity)."""

    def __init__(self, shards: int, *, vnodes: int = DEFAULT_VNODES) -> None:
        if shards < 1:
            raise ValueError(f"a ring needs at least 1 shard, not {shards}")
        if vnodes < 1:
            raise ValueError(f"a ring needs at least 1 virtual node per shard, not {vnodes}")
        self.shards = shards
        self.vnodes = vnodes
        ring = sorted(
            (_point(f"{shard}:{vnode}".encode()), shard) for shard in range(shards) for vnode in range(vnodes)
        )
        self._points = [point for point, _ in ring]
        self._owners = [shard for _, shard in ring]

    def shard_of(self, key: str) -> int:
        if self.shards == 1:
            return 0
        index = bisect.bisect_left(self._points, _point(key.encode("utf-8")))
        return self._owners[index % len(self._points)]

    def shares(self) -> list[float]:
        """The exact fraction of the hash space each shard owns (for tests and docs)."""
        size = 1 << 64
        owned = [0] * self.shards
        previous = self._points[-1] - size
        for point, shard in zip(self._points, self._owners, strict=True):
            owned[shard] += point - previous
            previous = point
        return [part / size for part in owned]


def shards_from_env(env: Mapping[str, str]) -> int:
    """``RELAYFLOW_SHARDS``: a whole number of at least 1 (default 1); InputInvalid otherwise."""
    return env_int(env, SHARDS_ENV, 1)
