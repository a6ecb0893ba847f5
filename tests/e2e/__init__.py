"""End-to-end tests: real registry clients against Tidegate (or the reference registry)."""
