"""The delivery ledger: what the tenant holds, row digests, and the import plan made from them."""
