"""Retention policies: the grammar (errors naming the field) and the pure selection — given
tags, manifests, properties and the time, which tags and manifests go, why, and what safety
keeps (docs/lifecycle.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tidegate.errors import ConfigInvalid, InvalidRequest
from tidegate.services.retention import (
    ImageState,
    ManifestState,
    Selection,
    TagState,
    check_configured,
    parse_duration,
    parse_policy,
    select,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SIG = "application/vnd.dev.cosign.artifact.sig.v1+json"


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def m(
    digest: str,
    days: float = 30,
    props: dict[str, list[str]] | None = None,
    subject: str | None = None,
    children: tuple[str, ...] = (),
    artifact_type: str | None = None,
) -> ManifestState:
    return ManifestState(digest, ago(days), subject, artifact_type, children, props or {})


def image(manifests: list[ManifestState], tags: list[tuple[str, str, float]]) -> ImageState:
    return ImageState(
        "shop/cart",
        {x.digest: x for x in manifests},
        [TagState(name, digest, ago(days)) for name, digest, days in tags],
    )


def run(policy: dict[str, Any], state: ImageState) -> Selection:
    return select(parse_policy(policy), [state], NOW)


def deleted(selection: Selection) -> list[str]:
    """Items as ``tag:<name>`` (tag only) or ``<digest>`` (manifest), in order."""
    return [f"tag:{i.tag}" if i.tag else i.digest for i in selection.items]


def kept(selection: Selection) -> dict[str, str]:
    return {(f"tag:{i.tag}" if i.tag else i.digest): i.reason for i in selection.refused}


# --- grammar -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("12h", 43200), ("14d", 14 * 86400), ("2w", 14 * 86400), ("1d12h", 129600)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text, "x").total_seconds() == seconds


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"rules": [{"tags": "*", "older_than": "14 days"}]}, "rules[0].older_than: '14 days'"),
        ({"rules": [{"tags": "*", "older_than": "2y"}]}, "is not a duration"),
        ({"rules": [{"tags": "v[0-9]", "keep_last": 1}]}, "rules[0].tags: 'v[0-9]' is not a tag"),
        ({"rules": [{"tags": "a/b", "keep_last": 1}]}, "is not a tag glob"),
        ({"rules": [{"tags": "*", "keep_last": -1}]}, "rules[0].keep_last"),
        ({"rules": [{"tags": "*", "keep_last": True}]}, "rules[0].keep_last"),
        ({"rules": [{"tags": "*"}]}, "say keep_last or older_than"),
        ({"rules": [{"tags": "*", "keep_last": 1, "where": ["Bad=x"]}]}, "rules[0].where[0]"),
        ({"rules": [{"tags": "*", "keep_last": 1, "protect": "release=true"}]}, "protect"),
        ({"rules": [{"tags": "*", "keep_last": 1, "keep": 2}]}, "unknown field(s) keep"),
        ({"rulez": []}, "unknown field(s) rulez"),
        ({}, "give rules, untagged_older_than or both"),
        ({"untagged_older_than": "7d", "schedule": "1m"}, "at least 5m"),
        ([], "a policy is an object"),
    ],
)
def test_bad_policies_name_the_field(policy: Any, message: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_policy(policy)
    assert message in info.value.message


def test_a_policy_round_trips() -> None:
    data = {
        "rules": [
            {"tags": "*-SNAPSHOT", "keep_last": 3, "older_than": "14d", "where": ["snapshot"]},
            {"tags": "*", "older_than": "90d", "protect": ["release=true"]},
        ],
        "untagged_older_than": "7d",
        "schedule": "24h",
    }
    policy = parse_policy(data)
    assert policy.as_dict() == data
    assert policy.schedule == timedelta(hours=24)


def test_config_check_names_the_repository_and_field() -> None:
    class Repo:
        key, kind = "dev", "local"
        retention = {"rules": [{"tags": "*", "older_than": "soon"}]}

    with pytest.raises(ConfigInvalid) as info:
        check_configured([Repo()])
    assert "repositories.0.retention.rules[0].older_than: 'soon'" in info.value.message


# --- selection ---------------------------------------------------------------------------


def test_keep_last_keeps_the_newest_tags_per_image_by_tag_time() -> None:
    """Ordering is by when the tag was last set, not by name or by push of the manifest."""
    state = image(
        [m("sha256:a", 1), m("sha256:b", 50), m("sha256:c", 3), m("sha256:d", 4)],
        [("1-SNAPSHOT", "sha256:a", 10), ("2-SNAPSHOT", "sha256:b", 1),
         ("3-SNAPSHOT", "sha256:c", 3), ("4-SNAPSHOT", "sha256:d", 4)],
    )  # fmt: skip
    result = run({"rules": [{"tags": "*-SNAPSHOT", "keep_last": 2}]}, state)
    assert deleted(result) == ["sha256:a", "sha256:d"]  # 2-SNAPSHOT and 3-SNAPSHOT are newest
    assert "not among the 2 newest" in result.items[0].reason
    assert result.items[0].tags == ("1-SNAPSHOT",)


def test_older_than_and_glob() -> None:
    state = image(
        [m("sha256:a"), m("sha256:b"), m("sha256:c")],
        [
            ("1.0-SNAPSHOT", "sha256:a", 20),
            ("1.1-SNAPSHOT", "sha256:b", 2),
            ("1.0", "sha256:c", 20),
        ],
    )
    result = run({"rules": [{"tags": "*-SNAPSHOT", "older_than": "14d"}]}, state)
    assert deleted(result) == ["sha256:a"]
    assert "tagged 20d ago" in result.items[0].reason


def test_a_tag_among_others_goes_alone() -> None:
    """A manifest keeps living while any of its tags stays: only the selected tag goes."""
    state = image([m("sha256:a")], [("1.4.0", "sha256:a", 20), ("1.4.0-SNAPSHOT", "sha256:a", 20)])
    result = run({"rules": [{"tags": "*-SNAPSHOT", "keep_last": 0}]}, state)
    assert deleted(result) == ["tag:1.4.0-SNAPSHOT"]


def test_where_selects_by_property() -> None:
    state = image(
        [m("sha256:a", props={"snapshot": ["true"]}), m("sha256:b")],
        [("a", "sha256:a", 1), ("b", "sha256:b", 1)],
    )
    result = run({"rules": [{"tags": "*", "keep_last": 0, "where": ["snapshot=true"]}]}, state)
    assert deleted(result) == ["sha256:a"]


def test_protect_wins_over_every_rule() -> None:
    state = image(
        [m("sha256:a", props={"release": ["true"]}), m("sha256:b")],
        [("a", "sha256:a", 100), ("b", "sha256:b", 100)],
    )
    policy = {
        "rules": [
            {"tags": "*", "keep_last": 0},
            {"tags": "none", "keep_last": 0, "protect": ["release=true"]},
        ]
    }
    result = run(policy, state)
    assert deleted(result) == ["sha256:b"]
    assert kept(result) == {"tag:a": "carries protecting property release=true"}


def test_keep_wins_over_another_rules_selection() -> None:
    state = image([m("sha256:a"), m("sha256:b")], [("a", "sha256:a", 1), ("b", "sha256:b", 2)])
    result = run({"rules": [{"tags": "*", "keep_last": 0}, {"tags": "a", "keep_last": 1}]}, state)
    assert deleted(result) == ["sha256:b"]


def test_untagged_older_than() -> None:
    state = image(
        [m("sha256:old", 10), m("sha256:new", 1), m("sha256:t", 10)], [("x", "sha256:t", 10)]
    )
    result = run({"untagged_older_than": "7d"}, state)
    assert deleted(result) == ["sha256:old"]
    assert "untagged" in result.items[0].reason


def test_children_of_an_index_that_stays_are_kept() -> None:
    """The platform manifests of a tagged index are untagged, but the index needs them."""
    state = image(
        [
            m("sha256:amd", 30),
            m("sha256:arm", 30),
            m("sha256:idx", 30, children=("sha256:amd", "sha256:arm")),
        ],
        [("1.0", "sha256:idx", 30)],
    )
    assert deleted(run({"untagged_older_than": "7d"}, state)) == []


def test_a_deleted_index_takes_its_children_after_it() -> None:
    state = image(
        [m("sha256:amd"), m("sha256:arm"), m("sha256:idx", children=("sha256:amd", "sha256:arm"))],
        [("1.0-SNAPSHOT", "sha256:idx", 30)],
    )
    result = run({"rules": [{"tags": "*-SNAPSHOT", "keep_last": 0}]}, state)
    assert deleted(result) == ["sha256:idx", "sha256:amd", "sha256:arm"]  # parent first


def test_a_child_another_index_still_lists_is_kept() -> None:
    state = image(
        [
            m("sha256:amd"),
            m("sha256:idx1", children=("sha256:amd",)),
            m("sha256:idx2", children=("sha256:amd",)),
        ],
        [("old-SNAPSHOT", "sha256:idx1", 30), ("1.0", "sha256:idx2", 30)],
    )
    result = run({"rules": [{"tags": "*-SNAPSHOT", "keep_last": 0}]}, state)
    assert deleted(result) == ["sha256:idx1"]
    assert kept(result) == {}  # the child was never selected by itself: nothing to report


def test_a_tagged_child_selected_while_its_index_stays_is_refused() -> None:
    state = image(
        [m("sha256:amd"), m("sha256:idx", children=("sha256:amd",))],
        [("amd-SNAPSHOT", "sha256:amd", 30), ("1.0", "sha256:idx", 30)],
    )
    result = run({"rules": [{"tags": "*-SNAPSHOT", "keep_last": 0}]}, state)
    assert deleted(result) == []
    assert "index sha256:idx stays and lists it" in kept(result)["sha256:amd"]


def test_referrers_go_before_their_subject_and_stay_with_a_kept_one() -> None:
    state = image(
        [
            m("sha256:a"),
            m("sha256:siga", subject="sha256:a", artifact_type=SIG),
            m("sha256:b"),
            m("sha256:sigb", subject="sha256:b", artifact_type=SIG),
        ],
        [("a-SNAPSHOT", "sha256:a", 30), ("1.0", "sha256:b", 30)],
    )
    policy = {"rules": [{"tags": "*-SNAPSHOT", "keep_last": 0}], "untagged_older_than": "1d"}
    result = run(policy, state)
    assert deleted(result) == ["sha256:siga", "sha256:a"]  # sigb stays with the kept b


def test_a_protected_referrer_keeps_its_subject() -> None:
    state = image(
        [m("sha256:a"), m("sha256:sig", subject="sha256:a", props={"keep": ["yes"]})],
        [("a-SNAPSHOT", "sha256:a", 30)],
    )
    policy = {"rules": [{"tags": "*-SNAPSHOT", "keep_last": 0, "protect": ["keep=yes"]}]}
    result = run(policy, state)
    assert deleted(result) == []
    assert "referrer sha256:sig stays" in kept(result)["sha256:a"]


def test_protect_by_referrer_type() -> None:
    state = image(
        [m("sha256:a"), m("sha256:sig", subject="sha256:a", artifact_type=SIG), m("sha256:b")],
        [("a", "sha256:a", 30), ("b", "sha256:b", 30)],
    )
    policy = {"rules": [{"tags": "*", "keep_last": 0, "protect": [f"referrer={SIG}"]}]}
    assert deleted(run(policy, state)) == ["sha256:b"]


def test_the_over_broad_policy_selects_everything_unprotected() -> None:
    """``tags: "*"``, ``keep_last: 0`` selects every tag: what keeps prod safe is not the
    policy but the repository's protection (tested in the service and end to end)."""
    state = image([m("sha256:a"), m("sha256:b")], [("1.0", "sha256:a", 0), ("2.0", "sha256:b", 0)])
    assert deleted(run({"rules": [{"tags": "*", "keep_last": 0}]}, state)) == [
        "sha256:a",
        "sha256:b",
    ]
