"""Unit tests of tidegate.http."""
