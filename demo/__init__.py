"""The demo: the ILC mall, seeded with tenants and promotions, and simulated shoppers."""
