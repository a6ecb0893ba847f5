"""Pure OCI spec logic, no I/O.

Owns: digests (sha256/sha512, streaming hashing), media types and Accept negotiation, the name,
tag and repository-key grammar, manifest and index parsing and validation.
Must not import anything of Tidegate's except ``tidegate.errors``.
"""
