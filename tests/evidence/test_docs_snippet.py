"""The plain-Python check in docs/verification.md runs and agrees with the ledger's proofs."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from ledger.evidence.merkle import LeafTree, consistency_proof, leaf_hash

DOC = Path(__file__).resolve().parents[2] / "docs" / "verification.md"


def snippet(n: int = 0) -> dict[str, Any]:
    """The n-th Python block: 0 the consistency check, 1 the payout proof's."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2
    scope: dict[str, Any] = {}
    exec(compile(blocks[n], str(DOC), "exec"), scope)
    return scope


def test_the_documented_check_works() -> None:
    doc = snippet()
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(37)]
    tree = LeafTree(leaf_hash(bytes.fromhex(h)) for h in hashes)
    for old in (0, 1, 4, 5, 16, 36, 37):
        proof = [p.hex() for p in consistency_proof(old, 37, tree.subtree)]
        old_root, new_root = tree.root(old).hex(), tree.root().hex()
        assert doc["root_of"](hashes[:old]) == old_root
        assert doc["consistent"](old, 37, old_root, new_root, proof)
        if proof:
            assert not doc["consistent"](old, 37, old_root, new_root, proof[:-1])
            assert not doc["consistent"](old, 37, old_root, "00" * 32, proof)
    forged = [*hashes[:3], "ff" * 32, *hashes[4:]]
    forged_tree = LeafTree(leaf_hash(bytes.fromhex(h)) for h in forged)
    proof = [p.hex() for p in consistency_proof(5, 37, forged_tree.subtree)]
    assert not doc["consistent"](5, 37, tree.root(5).hex(), forged_tree.root().hex(), proof)
