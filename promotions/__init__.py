"""Tenants, promotions, shopper profiles, eligibility, ranking, holdouts and measurement."""
