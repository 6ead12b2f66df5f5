"""Purchases and the customer lifecycle: what members buy, in which store, for how much."""
