"""Shared infrastructure for the services: no business logic lives here."""
