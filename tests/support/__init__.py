"""What the tests share: HTTP helpers, the ILC mall data, walks, and the shipped server."""
