"""Evidence an auditor can check outside the database: the journal's Merkle tree, signed
checkpoints, consistency and inclusion proofs, and the chains over other evidence."""
