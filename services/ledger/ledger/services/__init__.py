"""Ledger use cases on top of db-gateway and the cache, one module per area."""
