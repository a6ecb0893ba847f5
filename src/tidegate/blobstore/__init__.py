"""Content addressing on top of a storage driver.

Owns: the mapping from a digest or an upload id to a storage path (``layout``), committed
blobs (``blobs``) and the bytes of upload sessions with single-pass hashing (``uploads``).
Imports ``tidegate.storage``, ``tidegate.oci`` and ``tidegate.errors`` only; knows nothing of
repositories, databases or HTTP.
"""

from tidegate.blobstore.blobs import BlobStore
from tidegate.blobstore.uploads import UploadStore

__all__ = ["BlobStore", "UploadStore"]
