"""Who is calling and what they may do.

Owns: principals, password hashing (argon2), credential checks, the pure permission decision
and the Docker token format (scopes, JWT access and refresh tokens). May import ``db``, ``oci``
and ``errors``; never a web framework, never services.
"""
