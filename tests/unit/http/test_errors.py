"""The one error table: every domain error has its own entry and a sensible wire answer."""

from __future__ import annotations

import inspect
import json

import pytest

from tidegate import errors as e
from tidegate.http.errors import STATUS, oci_error_response, status_for

DOMAIN_ERRORS = [
    cls
    for _, cls in inspect.getmembers(e, inspect.isclass)
    if issubclass(cls, e.TidegateError) and cls is not e.TidegateError
]


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda c: c.__name__)
def test_every_domain_error_has_an_entry(cls: type[e.TidegateError]) -> None:
    assert cls in STATUS, f"{cls.__name__} has no entry in tidegate.http.errors.STATUS"
    if cls is e.UpstreamUnavailable:  # the one error that is not the client's: a bad gateway
        assert STATUS[cls] == 502
    else:
        assert 400 <= STATUS[cls] < 500


def test_unknown_errors_are_500_and_subclasses_follow_their_parent() -> None:
    class Odd(e.TidegateError):
        pass

    class NarrowUnknown(e.BlobUnknown):
        pass

    assert status_for(Odd("x")) == 500
    assert status_for(NarrowUnknown("x")) == 404


def test_envelope_and_head() -> None:
    error = e.RangeNotSatisfiable("outside", size=10)
    get = oci_error_response(error)
    assert get.status_code == 416
    assert get.headers["content-range"] == "bytes */10"
    body = json.loads(bytes(get.body))
    assert body == {
        "errors": [{"code": "BLOB_UPLOAD_INVALID", "message": "outside", "detail": {"size": 10}}]
    }
    head = oci_error_response(error, head=True)
    assert head.body == b""
    assert head.headers["content-length"] == str(len(get.body))
