"""Unit tests of tidegate.auth."""
