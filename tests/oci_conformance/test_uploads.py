"""Blob uploads (conformance A.5, once per digest algorithm, and the old suite's push workflow,
B.3): every upload method, chunk ordering, streams, cancel, cross-repository mounts and
digests that do not match the content.

After each upload the blob must HEAD and GET in the target repository, DELETE with 202 and then
HEAD 404 (the suite's cleanup with BLOBS_ATOMIC).
"""

from __future__ import annotations

import httpx
import pytest

from ._data import ALGORITHMS, Blob, digest_of, random_blob
from ._registry import (
    OCTET,
    Reg,
    Replayable,
    check_dcd,
    check_upload_range,
    chunk_min,
    expect,
    location,
    with_digest,
)

pytestmark = pytest.mark.parametrize("alg", ALGORITHMS)


def finish(reg: Reg, name: str, r: httpx.Response, blob: Blob) -> None:
    """The suite's checks after a 201: DCD, GET Location; then HEAD/GET/DELETE/HEAD."""
    reg.verify_created(r, blob)
    reg.check_blob(name, blob)
    reg.delete_blob(name, blob.digest)


def multi_chunk_blob(reg: Reg, name: str, alg: str) -> tuple[httpx.Response, Blob]:
    """An upload session and a blob of 3*min-5 bytes (3067 with the 1024-byte floor)."""
    start = reg.start_upload(name)
    return start, random_blob(3 * chunk_min(start) - 5, alg)


# ---------------------------------------------------------------------------- upload methods
def test_post_only(reg: Reg, repo1: str, alg: str) -> None:
    blob = random_blob(512, alg)
    r = reg.post_only(repo1, blob)
    finish(reg, repo1, r, blob)


def test_post_put(reg: Reg, repo1: str, alg: str) -> None:
    blob = random_blob(512, alg)
    r = reg.post_put(repo1, blob)
    finish(reg, repo1, r, blob)


def test_chunked_single(reg: Reg, repo1: str, alg: str) -> None:
    blob = random_blob(512, alg)
    start = reg.start_upload(repo1)
    loc = location(start)
    p = reg.patch(loc, content=blob.data, headers={**OCTET, "Content-Range": "0-511"})
    expect(p, 202, what="single chunk PATCH with Content-Range 0-511")
    put = reg.put(with_digest(location(p), blob.digest))
    expect(put, 201, what="closing PUT with no body")
    finish(reg, repo1, put, blob)


def test_chunked_multi(reg: Reg, repo1: str, alg: str) -> None:
    start, blob = multi_chunk_blob(reg, repo1, alg)
    r = reg.chunked(repo1, blob, start=start)
    finish(reg, repo1, r, blob)


def test_chunked_multi_put_last_chunk(reg: Reg, repo1: str, alg: str) -> None:
    start, blob = multi_chunk_blob(reg, repo1, alg)
    r = reg.chunked(repo1, blob, start=start, put_last_chunk=True)
    finish(reg, repo1, r, blob)


def test_chunked_out_of_order(reg: Reg, repo1: str, alg: str) -> None:
    start, blob = multi_chunk_blob(reg, repo1, alg)
    r = reg.chunked(repo1, blob, start=start, out_of_order=True)
    finish(reg, repo1, r, blob)


def test_chunked_out_of_order_put_last_chunk(reg: Reg, repo1: str, alg: str) -> None:
    start, blob = multi_chunk_blob(reg, repo1, alg)
    r = reg.chunked(repo1, blob, start=start, out_of_order=True, put_last_chunk=True)
    finish(reg, repo1, r, blob)


def test_stream(reg: Reg, repo1: str, alg: str) -> None:
    blob = random_blob(512, alg)
    r = reg.stream(repo1, blob)
    finish(reg, repo1, r, blob)


def test_post_cancel(reg: Reg, repo1: str, alg: str) -> None:
    """UPLOAD_CANCEL (dev): DELETE of the session -> 204; the blob was never stored."""
    blob = random_blob(512, alg)
    start = reg.start_upload(repo1)
    cancel = reg.delete(location(start), headers={"Content-Length": "0"})
    expect(cancel, 204, what="DELETE of an upload session")
    reg.delete_blob(repo1, blob.digest, status=404)


def test_post_cancel_in_suite_order(reg: Reg, repo1: str, alg: str) -> None:
    """As in the suite's run, where earlier cleanups already deleted blobs in repo1: the cached
    header for (repo1, DELETE) carries a delete-scoped token when the upload is cancelled, and
    the suite re-authenticates only on a 401."""
    earlier = random_blob(512, alg)
    reg.push_blob(repo1, earlier, "post-put")
    reg.delete_blob(repo1, earlier.digest)
    start = reg.start_upload(repo1)
    cancel = reg.delete(location(start), headers={"Content-Length": "0"})
    expect(cancel, 204, what="DELETE of an upload session (after a blob DELETE)")
    reg.delete_blob(repo1, random_blob(512, alg).digest, status=404)


# ---------------------------------------------------------------------------------- mounts
def test_mount_from(reg: Reg, repo1: str, repo2: str, alg: str) -> None:
    blob = random_blob(512, alg)
    reg.push_blob(repo2, blob, "post-put")
    r = reg.post(reg.uploads(repo1), params={"mount": blob.digest, "from": repo2})
    expect(r, 201, what="mount with from (202 is 'unsupported')")
    finish(reg, repo1, r, blob)
    reg.delete_blob(repo2, blob.digest)


def test_mount_anonymous(reg: Reg, repo1: str, repo2: str, alg: str) -> None:
    """MOUNT_ANONYMOUS: ?mount= without from, for a blob in a repository the caller reads."""
    blob = random_blob(512, alg)
    reg.push_blob(repo2, blob, "post-put")
    r = reg.post(reg.uploads(repo1), params={"mount": blob.digest})
    expect(r, 201, what="mount without from (202 is 'unsupported')")
    finish(reg, repo1, r, blob)
    reg.delete_blob(repo2, blob.digest)


def test_mount_missing(reg: Reg, repo1: str, repo2: str, alg: str) -> None:
    """A blob that exists nowhere: 202 with an upload session (201 'incorrectly succeeded')."""
    blob = random_blob(512, alg)
    r = reg.post(reg.uploads(repo1), params={"mount": blob.digest, "from": repo2})
    expect(r, 202, what="mount of a blob that was never pushed")
    put = reg.put(with_digest(location(r), blob.digest), content=blob.data, headers=OCTET)
    expect(put, 201, what="PUT of the blob to the session the failed mount opened")
    finish(reg, repo1, put, blob)


@pytest.mark.parametrize("auth", ["suite", "basic"])
def test_legacy_cross_mount(
    reg: Reg, basic_reg: Reg, repo1: str, repo2: str, alg: str, auth: str
) -> None:
    """B.3: mount of a missing blob without from -> 202 into uploads/; mount with from -> 201
    whose Location is exactly /v2/<xns>/blobs/<digest>; OCI_AUTOMATIC_CROSSMOUNT=1: a mount
    without from -> 201."""
    client = reg if auth == "suite" else basic_reg
    xns = repo2
    missing = client.post(client.uploads(xns), params={"mount": digest_of(b"hello world", alg)})
    expect(missing, 202, what="mount of a nonexistent blob without from")
    assert location(missing).path.startswith(f"/v2/{xns}/blobs/uploads/")
    blob = random_blob(42, alg)
    client.push_blob(repo1, blob, "post-put")
    r = client.post(client.uploads(xns), params={"mount": blob.digest, "from": repo1})
    expect(r, 201, what="cross-repository mount with from")
    loc = location(r)
    assert loc.path == f"/v2/{xns}/blobs/{blob.digest}" and not loc.query, (
        f"mount Location must be exactly /v2/{xns}/blobs/{blob.digest}, got {loc}"
    )
    expect(client.get(loc), 200, what="GET of the mount Location")
    auto = client.post(client.uploads(f"{xns}-auto"), params={"mount": blob.digest})
    expect(auto, 201, what="automatic cross-mount (no from)")
    for name in (repo1, xns, f"{xns}-auto"):
        client.delete_blob(name, blob.digest)


# ------------------------------------------------------------------------------ bad digests
def bad_blob(alg: str) -> tuple[Blob, bytes]:
    """(the blob whose digest is announced, the bytes actually sent: "oh no" appended)."""
    blob = random_blob(3067, alg)
    return blob, blob.data + b"oh no"


def test_bad_digest_post_only(reg: Reg, repo1: str, alg: str) -> None:
    blob, sent = bad_blob(alg)
    r = reg.post(reg.uploads(repo1), params={"digest": blob.digest}, content=sent, headers=OCTET)
    expect(r, 400, 202, what="monolithic POST whose body does not match ?digest=")
    if r.status_code == 202:
        put = reg.put(with_digest(location(r), blob.digest), content=sent, headers=OCTET)
        expect(put, 400, what="PUT whose body does not match ?digest=")
    reg.delete_blob(repo1, blob.digest, status=404)


def test_bad_digest_post_put(reg: Reg, repo1: str, alg: str) -> None:
    blob, sent = bad_blob(alg)
    start = reg.start_upload(repo1)
    put = reg.put(with_digest(location(start), blob.digest), content=sent, headers=OCTET)
    expect(put, 400, what="PUT whose body does not match ?digest=")
    reg.delete_blob(repo1, blob.digest, status=404)


@pytest.mark.parametrize("variant", ["chunked", "chunked-put-chunk"])
def test_bad_digest_chunked(reg: Reg, repo1: str, alg: str, variant: str) -> None:
    """Both variants behave as plain chunked (the suite does not pass the put-chunk flag)."""
    blob, sent = bad_blob(alg)
    start = reg.start_upload(repo1)
    loc = location(start)
    size = len(sent)
    chunk = min(max(size // 3 + 1, chunk_min(start)), size)
    for offset in range(0, size, chunk):
        end = min(offset + chunk, size) - 1
        headers = {**OCTET, "Content-Range": f"{offset}-{end}"}
        p = reg.patch(loc, content=sent[offset : end + 1], headers=headers)
        expect(p, 202, what="chunk PATCH of a blob with a wrong digest")
        loc = location(p)
    put = reg.put(with_digest(loc, blob.digest))
    expect(put, 400, what="closing PUT with a digest the content does not have")
    reg.delete_blob(repo1, blob.digest, status=404)


def test_bad_digest_stream(reg: Reg, repo1: str, alg: str) -> None:
    blob, sent = bad_blob(alg)
    start = reg.start_upload(repo1)
    p = reg.patch(location(start), content=Replayable(sent), headers=OCTET)
    expect(p, 202, what="streamed PATCH")
    put = reg.put(with_digest(location(p), blob.digest))
    expect(put, 400, what="closing PUT with a digest the streamed content does not have")
    reg.delete_blob(repo1, blob.digest, status=404)


# ------------------------------------------------------------------- old suite: push workflow
def test_legacy_streamed_push(reg: Reg, repo1: str, alg: str) -> None:
    """B.3 streamed: PATCH with Content-Length and no Content-Range -> 202; PUT of the PATCH
    Location with ?digest= and no body -> 201 with a Location."""
    blob = random_blob(42, alg)
    start = reg.start_upload(repo1)
    p = reg.patch(location(start), content=blob.data, headers=OCTET)
    expect(p, 202, what="PATCH with the whole body and no Content-Range")
    put = reg.put(with_digest(location(p), blob.digest), headers=OCTET)
    expect(put, 201, what="PUT ?digest= with no body")
    finish(reg, repo1, put, blob)


def test_legacy_monolithic_push(reg: Reg, repo1: str, alg: str) -> None:
    """B.3 monolithic: GET of an unknown blob -> 404; POST ?digest= -> 201 and the blob GETs;
    POST then PUT -> 201 and the blob GETs."""
    expect(reg.get(reg.blob_url(repo1, digest_of(b"hello world", alg))), 404)
    first, second = random_blob(42, alg), random_blob(42, alg)
    r = reg.post(
        reg.uploads(repo1), params={"digest": first.digest}, content=first.data, headers=OCTET
    )
    expect(r, 201, what="monolithic POST ?digest=")
    location(r)
    expect(reg.get(reg.blob_url(repo1, first.digest)), 200, what="GET after a 201 POST")
    put = reg.post_put(repo1, second)
    location(put)
    expect(reg.get(reg.blob_url(repo1, second.digest)), 200, what="GET after POST+PUT")
    for blob in (first, second):
        reg.delete_blob(repo1, blob.digest)


def test_legacy_chunked_push(reg: Reg, repo1: str, alg: str) -> None:
    """B.3 chunked: chunk2 first -> 416; chunk1 -> 202 with Range exactly 0-21; chunk1 again
    on the ORIGINAL POST Location -> 416; GET of that Location -> 204, Range 0-21; chunk2 on
    the GET's Location -> 202; closing PUT -> 201."""
    probe = reg.start_upload(repo1)
    size = 42
    first_len = 22
    announced = int(probe.headers.get("oci-chunk-min-length") or 0)
    if announced > first_len:
        first_len, size = announced, announced * 2 - 2
    blob = random_blob(size, alg)
    chunk1, chunk2 = blob.data[:first_len], blob.data[first_len:]
    range1, range2 = f"0-{first_len - 1}", f"{first_len}-{size - 1}"

    p = reg.patch(location(probe), content=chunk2, headers={**OCTET, "Content-Range": range2})
    expect(p, 416, what=f"PATCH of chunk2 ({range2}) as the first write")

    start = reg.start_upload(repo1)
    original = location(start)
    p1 = reg.patch(original, content=chunk1, headers={**OCTET, "Content-Range": range1})
    expect(p1, 202, what=f"PATCH of chunk1 ({range1})")
    assert p1.headers.get("range") == range1, f"Range after chunk1 must be exactly {range1}"
    location(p1)

    again = reg.patch(original, content=chunk1, headers={**OCTET, "Content-Range": range1})
    expect(again, 416, what="chunk1 re-sent to the original POST Location")

    status = expect(reg.get(original), 204, what="GET of the original POST Location")
    assert status.headers.get("range") == range1, "upload status Range must be exactly " + range1
    check_upload_range(status, first_len)

    p2 = reg.patch(location(status), content=chunk2, headers={**OCTET, "Content-Range": range2})
    expect(p2, 202, what=f"PATCH of chunk2 ({range2})")
    put = reg.put(with_digest(location(p2), blob.digest))
    expect(put, 201, what="closing PUT with no body")
    check_dcd(put, blob.digest)
    finish(reg, repo1, put, blob)
