"""Purchases and members: ingest, pseudonyms, erasure, the CSV import."""
