"""Promotions, mall rules, shopper segments, eligibility, ranking, holdouts and measurement."""
