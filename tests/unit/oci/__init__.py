"""Unit tests of tidegate.oci."""
