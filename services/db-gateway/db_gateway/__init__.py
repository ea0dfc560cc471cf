"""db-gateway: the only service that talks to Postgres."""
