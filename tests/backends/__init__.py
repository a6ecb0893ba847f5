"""Behaviour suites shared by every backend: one storage-driver suite, one metadata suite."""
