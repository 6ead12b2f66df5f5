"""Tenants: the stores of a mall, and how operators manage them."""
