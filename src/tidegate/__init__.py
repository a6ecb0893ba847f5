"""Tidegate: a self-hosted OCI/Docker registry for teams that ship through stages."""

__version__ = "0.1.0"
