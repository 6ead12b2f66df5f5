"""The console: staff accounts, sessions and CSRF, pages, and a real browser."""
