"""Public request and response bodies of /services and /profile, one module per area."""
