"""Unit tests of tidegate.storage."""
