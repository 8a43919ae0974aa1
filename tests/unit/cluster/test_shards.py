"""The shard ring: stable, even, and minimal movement when a shard is added."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relayflow.cluster.ports import ShardRouter
from relayflow.cluster.shards import HashRing, shards_from_env
from relayflow.errors import InputInvalid

KEYS = [str(uuid.UUID(int=i * 0x9E3779B97F4A7C15 % (1 << 128))) for i in range(20_000)]


def test_one_shard_takes_everything() -> None:
    ring: ShardRouter = HashRing(1)
    assert {ring.shard_of(key) for key in KEYS[:100]} == {0}


def test_the_shard_of_a_key_is_stable_across_rings_and_processes() -> None:
    # fixed expectations: a change of hash (e.g. Python's salted hash()) would break these
    ring = HashRing(8)
    assert [ring.shard_of(f"wf-{i}") for i in range(12)] == [2, 4, 4, 7, 4, 3, 7, 3, 2, 6, 7, 1]
    assert ring.shard_of("workflow-1") == HashRing(8, vnodes=64).shard_of("workflow-1")
    assert sorted({ring.shard_of(key) for key in KEYS[:2000]}) == list(range(8))


@given(st.integers(min_value=2, max_value=32))
@settings(max_examples=31, deadline=None)
def test_every_shard_owns_a_fair_share_of_the_ring(shards: int) -> None:
    shares = HashRing(shards).shares()
    assert abs(sum(shares) - 1.0) < 1e-9
    mean = 1 / shards
    # 64 virtual nodes per shard: every share within [0.6, 1.5] x the mean (measured: 0.74..1.41)
    assert all(0.6 * mean <= share <= 1.5 * mean for share in shares), shares


@given(st.integers(min_value=2, max_value=16), st.integers(min_value=0, max_value=10_000))
@settings(max_examples=40, deadline=None)
def test_keys_spread_evenly(shards: int, offset: int) -> None:
    ring = HashRing(shards)
    keys = KEYS[offset : offset + 8000]
    counts = [0] * shards
    for key in keys:
        counts[ring.shard_of(key)] += 1
    mean = len(keys) / shards
    assert min(counts) >= 0.5 * mean and max(counts) <= 1.6 * mean, counts


@given(st.integers(min_value=1, max_value=24), st.integers(min_value=0, max_value=10_000))
@settings(max_examples=40, deadline=None)
def test_adding_a_shard_moves_about_one_in_n_plus_one_keys_all_to_the_new_shard(
    shards: int, offset: int
) -> None:
    before, after = HashRing(shards), HashRing(shards + 1)
    keys = KEYS[offset : offset + 8000]
    moved = [key for key in keys if before.shard_of(key) != after.shard_of(key)]
    # every moved key goes to the new shard: the others never trade keys among themselves
    assert all(after.shard_of(key) == shards for key in moved)
    expected = len(keys) / (shards + 1)
    assert 0.5 * expected <= len(moved) <= 1.6 * expected, (len(moved), expected)


def test_bad_ring_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 shard"):
        HashRing(0)
    with pytest.raises(ValueError, match="virtual node"):
        HashRing(2, vnodes=0)


def test_relayflow_shards_from_the_environment() -> None:
    assert shards_from_env({}) == 1
    assert shards_from_env({"RELAYFLOW_SHARDS": " 12 "}) == 12
    with pytest.raises(InputInvalid, match="RELAYFLOW_SHARDS must be a whole number, not 'many'"):
        shards_from_env({"RELAYFLOW_SHARDS": "many"})
    with pytest.raises(InputInvalid, match="RELAYFLOW_SHARDS must be at least 1, not 0"):
        shards_from_env({"RELAYFLOW_SHARDS": "0"})
