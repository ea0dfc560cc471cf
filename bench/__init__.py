"""`make bench`: one command that starts its own stack, seeds it, drives it with
wrk through the ingress, measures the ceilings on the same machine (nginx in
front of a bare FastAPI app, pgbench doing the same double-entry write,
raw argon2id) and prints one table. It measures; it optimises nothing."""
