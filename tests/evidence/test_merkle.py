"""RFC 9162 proofs over random trees: every honest proof verifies, any change fails."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain import merkle_root
from ledger.evidence.merkle import (
    EMPTY_ROOT,
    LeafTree,
    ProofError,
    consistency_proof,
    inclusion_path,
    leaf_hash,
    mth,
    node_hash,
    split_point,
    verify_consistency,
    verify_inclusion,
)

leaves = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


def reference_mth(data: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 §2.1.1 writes it, recursively."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = split_point(len(data))
    return hashlib.sha256(b"\x01" + reference_mth(data[:k]) + reference_mth(data[k:])).digest()


def tree(data: list[bytes]) -> LeafTree:
    return LeafTree(leaf_hash(d) for d in data)


def flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 1]) + b[1:]


def test_known_values() -> None:
    assert mth([]) == EMPTY_ROOT
    a, b, c = leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")
    assert mth([b"a", b"b", b"c"]) == node_hash(node_hash(a, b), c)
    assert split_point(2) == 1 and split_point(5) == 4 and split_point(8) == 4


@given(st.lists(st.binary(max_size=8), max_size=70))
def test_root_matches_the_rfc_definition_and_the_batch_digest(data: list[bytes]) -> None:
    assert mth(data) == reference_mth(data)
    assert merkle_root(data) == reference_mth(data).hex()
    t = tree(data)
    for size in range(len(data) + 1):
        assert t.root(size) == reference_mth(data[:size])


@settings(max_examples=150)
@given(leaves, st.data())
def test_inclusion_proofs_verify_and_any_change_fails(
    data: list[bytes], draw: st.DataObject
) -> None:
    t = tree(data)
    n = len(data)
    index = draw.draw(st.integers(0, n - 1))
    root = t.root()
    path = inclusion_path(index, n, t.subtree)
    leaf = leaf_hash(data[index])
    verify_inclusion(index, n, leaf, path, root)

    with pytest.raises(ProofError):
        verify_inclusion(index, n, flip(leaf), path, root)
    with pytest.raises(ProofError):
        verify_inclusion(index, n, leaf, path, flip(root))
    if path:
        i = draw.draw(st.integers(0, len(path) - 1))
        with pytest.raises(ProofError):
            verify_inclusion(index, n, leaf, [*path[:i], flip(path[i]), *path[i + 1 :]], root)
        with pytest.raises(ProofError):
            verify_inclusion(index, n, leaf, path[:-1], root)
    with pytest.raises(ProofError):
        verify_inclusion(index, n, leaf, [*path, leaf], root)
    other = draw.draw(st.integers(0, n))
    if other != index and not (other < n and data[other] == data[index]):
        with pytest.raises(ProofError):
            verify_inclusion(other, n, leaf, path, root)
    # Another size: the path was made for n leaves. Against the root of a tree of that size it
    # fails unless it is that tree's own path; with a different depth it fails whatever the root.
    size = draw.draw(st.integers(0, n + 5))
    if size != n:
        other_tree = tree((data + [b"pad"] * size)[:size])
        if index >= size or path != inclusion_path(index, size, other_tree.subtree):
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaf, path, other_tree.root())
        if index >= size or len(inclusion_path(index, size, other_tree.subtree)) != len(path):
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaf, path, root)


@settings(max_examples=150)
@given(leaves, st.data())
def test_consistency_proofs_verify_and_a_changed_prefix_fails(
    data: list[bytes], draw: st.DataObject
) -> None:
    t = tree(data)
    new = len(data)
    old = draw.draw(st.integers(0, new))
    proof = consistency_proof(old, new, t.subtree)
    verify_consistency(old, new, t.root(old), t.root(), proof)

    if old > 0:
        # The old tree as it was, then one of its leaves rewritten in today's tree.
        i = draw.draw(st.integers(0, old - 1))
        changed = [*data[:i], data[i] + b"!", *data[i + 1 :]]
        forged = tree(changed)
        with pytest.raises(ProofError):
            verify_consistency(
                old, new, t.root(old), forged.root(), consistency_proof(old, new, forged.subtree)
            )
        with pytest.raises(ProofError):
            verify_consistency(old, new, flip(t.root(old)), t.root(), proof)
    if proof:
        j = draw.draw(st.integers(0, len(proof) - 1))
        with pytest.raises(ProofError):
            verify_consistency(
                old, new, t.root(old), t.root(), [*proof[:j], flip(proof[j]), *proof[j + 1 :]]
            )
        with pytest.raises(ProofError):
            verify_consistency(old, new, t.root(old), t.root(), proof[:-1])
    if 0 < old < new:
        with pytest.raises(ProofError):
            verify_consistency(old, new, t.root(old), flip(t.root()), proof)
        longer = tree([*data, b"pad"])
        if proof != consistency_proof(old, new + 1, longer.subtree):
            with pytest.raises(ProofError):
                verify_consistency(old, new + 1, t.root(old), longer.root(), proof)


def test_impossible_requests_are_refused() -> None:
    t = tree([b"a", b"b"])
    with pytest.raises(ProofError):
        inclusion_path(2, 2, t.subtree)
    with pytest.raises(ProofError):
        consistency_proof(3, 2, t.subtree)
    with pytest.raises(ProofError):
        verify_consistency(3, 2, t.root(), t.root(), [])
    with pytest.raises(ProofError):
        t.root(3)
