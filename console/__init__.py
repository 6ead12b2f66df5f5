"""The web console of operators and tenant staff, served under /console/ (console.app)."""
