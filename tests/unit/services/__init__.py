"""Unit tests of tidegate.services (on a real SQLite database)."""
