"""Unit tests; the tree mirrors src/tidegate."""
