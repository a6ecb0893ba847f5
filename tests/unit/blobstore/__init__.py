"""Unit tests of tidegate.blobstore."""
