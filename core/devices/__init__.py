"""Shopper devices: the table, consents, registration, tokens revoked, erasure."""
