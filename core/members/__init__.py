"""Loyalty members, pseudonymised: what links a purchase, a device and a promotion's audience."""
