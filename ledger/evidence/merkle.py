"""RFC 9162 (Certificate Transparency v2) Merkle trees: hashing, inclusion and consistency proofs.

Pure: ``hashlib`` only, no database. Leaves are hashed SHA-256(0x00 ‖ data), nodes
SHA-256(0x01 ‖ left ‖ right); the root of n leaves is MTH (§2.1.1), PATH and its check are
§2.1.3, PROOF/SUBPROOF and its check are §2.1.4.

Proofs are generated from a ``SubtreeHash``: a function giving MTH of the leaves [start, end).
``LeafTree`` provides one over leaf hashes in memory; the journal provides one over its stored
complete subtrees (``ledger.evidence.service``), so the same code serves both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

SubtreeHash = Callable[[int, int], bytes]
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not verify, or one asked for that cannot exist."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already hashed leaves, by a stack of complete subtrees: O(n) time, O(log n) memory."""
    if not leaf_hashes:
        return EMPTY_ROOT
    stack: list[tuple[int, bytes]] = []
    for node in leaf_hashes:
        height = 0
        while stack and stack[-1][0] == height:
            node = node_hash(stack.pop()[1], node)
            height += 1
        stack.append((height, node))
    node = stack.pop()[1]
    while stack:
        node = node_hash(stack.pop()[1], node)
    return node


def mth(data: Iterable[bytes]) -> bytes:
    """MTH(D[n]) of raw leaf data, straight from the RFC's definition."""
    return root_of([leaf_hash(d) for d in data])


class LeafTree:
    """Leaf hashes held in memory with every complete aligned subtree, so any subtree is cheap."""

    def __init__(self, leaf_hashes: Iterable[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaf_hashes)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def subtree(self, start: int, end: int) -> bytes:
        return subtree_from_complete(start, end, self.complete)

    def complete(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ProofError(f"the tree has {self.size} leaves, not {size}")
        return self.subtree(0, size) if size else EMPTY_ROOT


def subtree_from_complete(start: int, end: int, complete: Callable[[int, int], bytes]) -> bytes:
    """MTH(D[start:end]) from the hashes of complete aligned subtrees, ``complete(level, index)``
    being the subtree of the 2**level leaves from index * 2**level."""
    n = end - start
    if n <= 0:
        raise ProofError("an empty range has no subtree")
    level = n.bit_length() - 1
    if n == 1 << level and start % n == 0:
        return complete(level, start >> level)
    k = split_point(n)
    return node_hash(
        subtree_from_complete(start, start + k, complete),
        subtree_from_complete(start + k, end, complete),
    )


def inclusion_path(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(m, D[n]) (§2.1.3.1): the siblings from the leaf up to the root."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index - start < k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def verify_inclusion(
    index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes
) -> None:
    """§2.1.3.2: raise ``ProofError`` unless ``leaf`` is leaf ``index`` of the tree ``root``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("the inclusion path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion path is shorter than the tree is deep")
    if r != root:
        raise ProofError("the inclusion path does not lead to the root")


def consistency_proof(old_size: int, new_size: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(m, D[n]) (§2.1.4.1); empty when m is 0 or m = n."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from {old_size} to {new_size} leaves")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    m, start, end, complete = old_size, 0, new_size, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(subtree(start, end))
            break
        k = split_point(n)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            m -= k
            start += k
            complete = False
    proof.reverse()
    return proof


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """§2.1.4.2: raise ``ProofError`` unless the tree ``new_root`` extends the tree ``old_root``."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"a tree of {new_size} leaves cannot extend one of {old_size}")
    if old_size == new_size or old_size == 0:
        if proof:
            raise ProofError("this consistency proof must be empty")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError("the old root is not the root of an empty tree")
        if old_size == new_size and old_root != new_root:
            raise ProofError("two trees of the same size have different roots")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError("the consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("the consistency proof does not lead to the new root")
