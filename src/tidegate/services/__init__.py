"""Use cases, framework-free: resolving names to repositories, blobs, uploads, manifests, tags,
referrers and the first-start bootstrap.

Services take plain values and return plain values; the HTTP layer is a thin adapter over them.
Imports ``auth``, ``blobstore``, ``db``, ``storage``, ``oci``, ``errors``; never a web framework.
"""
