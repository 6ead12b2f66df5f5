"""mallcast's HTTP API, settings, database access, embedded PostGIS and CLI."""

__version__ = "0.1.0"
