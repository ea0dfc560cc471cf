"""The local stack: Postgres, Redis, the three services and nginx as the ingress."""
