"""A pytest port of the OCI distribution-spec conformance suite (see conftest.py)."""
