"""Retention policies: their grammar and the pure "pick candidates" step (docs/lifecycle.md).

Owns: parsing and validating a policy (``{"rules": [{"tags", "keep_last", "older_than",
"where", "protect"}], "untagged_older_than", "schedule"}``, errors naming the field), durations
(``30m``, ``12h``, ``14d``, ``2w``), tag globs, and ``select``: given the manifests, tags and
properties of the images of one repository and the time, which tags and manifests the policy
deletes (with a reason each) and which it selected but safety keeps (``refused``, with the
reason), in an order in which every deletion is allowed (indexes and referrers before what they
need). Pure: no I/O; conditions are the gate grammar of ``services.gates``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tidegate.auth.globs import matches
from tidegate.config import parse_duration as config_duration
from tidegate.errors import ConfigInvalid, InvalidRequest
from tidegate.services.gates import Condition, holds, parse_condition

_TAG_GLOB = re.compile(r"[A-Za-z0-9_.*?-]{1,128}")
MAX_DURATION = timedelta(days=3650)
MIN_SCHEDULE = timedelta(minutes=5)
MAX_RULES = 50
MAX_KEEP = 100_000
POLICY_FIELDS = ("rules", "untagged_older_than", "schedule")
RULE_FIELDS = ("tags", "keep_last", "older_than", "where", "protect")


def parse_duration(text: object, where: str) -> timedelta:
    """``30m``, ``12h``, ``14d``, ``2w`` or sums such as ``1d12h`` (config.parse_duration's
    grammar); a unit is required here, so ``older_than: 14`` is not taken for 14 seconds."""
    try:
        if not isinstance(text, str) or text.strip().replace(".", "", 1).isdigit():
            raise ValueError(text)
        seconds = config_duration(text)
    except ValueError:
        raise InvalidRequest(
            f"{where}: {text!r} is not a duration (a number and a unit s, m, h, d or w:"
            " 30m, 12h, 14d, 2w)"
        ) from None
    if seconds > MAX_DURATION.total_seconds():
        raise InvalidRequest(f"{where}: {text!r} is longer than ten years")
    return timedelta(seconds=seconds)


def format_age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _conditions(value: object, where: str) -> tuple[Condition, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise InvalidRequest(f'{where}: a list of conditions such as ["snapshot=true"]')
    result = []
    for i, text in enumerate(value):
        try:
            result.append(parse_condition(text))
        except InvalidRequest as exc:
            raise InvalidRequest(f"{where}[{i}]: {exc.message}") from None
    return tuple(result)


@dataclass(frozen=True, slots=True)
class Rule:
    tags: str
    keep_last: int | None = None
    older_than: timedelta | None = None
    where: tuple[Condition, ...] = ()
    protect: tuple[Condition, ...] = ()
    older_than_text: str | None = None

    def describe(self) -> str:
        parts = [f"tags {self.tags!r}"]
        if self.keep_last is not None:
            parts.append(f"keep_last {self.keep_last}")
        if self.older_than_text:
            parts.append(f"older_than {self.older_than_text}")
        if self.where:
            parts.append("where " + ", ".join(c.text for c in self.where))
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"tags": self.tags}
        if self.keep_last is not None:
            data["keep_last"] = self.keep_last
        if self.older_than_text is not None:
            data["older_than"] = self.older_than_text
        if self.where:
            data["where"] = [c.text for c in self.where]
        if self.protect:
            data["protect"] = [c.text for c in self.protect]
        return data


@dataclass(frozen=True, slots=True)
class Policy:
    rules: tuple[Rule, ...] = ()
    untagged_older_than: timedelta | None = None
    untagged_text: str | None = None
    schedule: timedelta | None = None
    schedule_text: str | None = None

    @property
    def protect(self) -> tuple[Condition, ...]:
        """Protecting conditions of every rule: they protect against every rule."""
        return tuple(c for r in self.rules for c in r.protect)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"rules": [r.as_dict() for r in self.rules]}
        if self.untagged_text is not None:
            data["untagged_older_than"] = self.untagged_text
        if self.schedule_text is not None:
            data["schedule"] = self.schedule_text
        return data


def _rule(data: object, where: str) -> Rule:
    if not isinstance(data, Mapping):
        raise InvalidRequest(f"{where}: a rule is an object {{tags, keep_last, older_than, ...}}")
    unknown = sorted(set(data) - set(RULE_FIELDS))
    if unknown:
        raise InvalidRequest(
            f"{where}: unknown field(s) {', '.join(unknown)} (a rule takes"
            f" {', '.join(RULE_FIELDS)})"
        )
    tags = data.get("tags")
    if not isinstance(tags, str) or not _TAG_GLOB.fullmatch(tags):
        raise InvalidRequest(
            f"{where}.tags: {tags!r} is not a tag glob (1-128 of letters, digits, '.', '_',"
            " '-', with * for any run and ? for one character, e.g. '*-SNAPSHOT')"
        )
    keep = data.get("keep_last")
    if keep is not None and (
        isinstance(keep, bool) or not isinstance(keep, int) or not 0 <= keep <= MAX_KEEP
    ):
        raise InvalidRequest(f"{where}.keep_last: a whole number from 0 to {MAX_KEEP}")
    older_text = data.get("older_than")
    older = None if older_text is None else parse_duration(older_text, f"{where}.older_than")
    if keep is None and older is None:
        raise InvalidRequest(
            f"{where}: say keep_last or older_than (to delete every matching tag, say keep_last: 0)"
        )
    return Rule(
        tags,
        keep,
        older,
        _conditions(data.get("where"), f"{where}.where"),
        _conditions(data.get("protect"), f"{where}.protect"),
        older_text if isinstance(older_text, str) else None,
    )


def parse_policy(data: object, where: str = "retention") -> Policy:
    """A policy from its stored, configured or requested form; ``InvalidRequest`` names the
    field at fault (``retention.rules[0].older_than: ...``)."""
    if not isinstance(data, Mapping):
        raise InvalidRequest(f"{where}: a policy is an object {{rules, untagged_older_than}}")
    unknown = sorted(set(data) - set(POLICY_FIELDS))
    if unknown:
        raise InvalidRequest(
            f"{where}: unknown field(s) {', '.join(unknown)} (a policy takes"
            f" {', '.join(POLICY_FIELDS)})"
        )
    rules = data.get("rules") or []
    if not isinstance(rules, list):
        raise InvalidRequest(f"{where}.rules: a list of rules")
    if len(rules) > MAX_RULES:
        raise InvalidRequest(f"{where}.rules: at most {MAX_RULES} rules")
    parsed = tuple(_rule(r, f"{where}.rules[{i}]") for i, r in enumerate(rules))
    untagged_text = data.get("untagged_older_than")
    untagged = (
        None
        if untagged_text is None
        else parse_duration(untagged_text, f"{where}.untagged_older_than")
    )
    schedule_text = data.get("schedule")
    schedule = None
    if schedule_text is not None:
        schedule = parse_duration(schedule_text, f"{where}.schedule")
        if schedule < MIN_SCHEDULE:
            raise InvalidRequest(f"{where}.schedule: at least 5m between runs")
    if not parsed and untagged is None:
        raise InvalidRequest(f"{where}: give rules, untagged_older_than or both")
    return Policy(
        parsed,
        untagged,
        untagged_text if isinstance(untagged_text, str) else None,
        schedule,
        schedule_text if isinstance(schedule_text, str) else None,
    )


def check_configured(repositories: Sequence[Any]) -> None:
    """Validate the ``retention`` of configured repositories (``config check`` and start):
    ``ConfigInvalid`` naming ``repositories.N.retention...`` and the reason."""
    problems = []
    for number, repo in enumerate(repositories):
        data = getattr(repo, "retention", None)
        if data is None:
            continue
        try:
            parse_policy(data, f"repositories.{number}.retention")
        except InvalidRequest as exc:
            problems.append(exc.message)
            continue
        if getattr(repo, "kind", "local") != "local":
            problems.append(
                f"repositories.{number}.retention: {repo.key!r} is a {repo.kind} repository;"
                " retention policies apply to local repositories"
            )
    if problems:
        raise ConfigInvalid("invalid configuration:\n  " + "\n  ".join(problems))


# --- selection ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagState:
    name: str
    digest: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ManifestState:
    digest: str
    created_at: datetime
    subject: str | None = None
    artifact_type: str | None = None
    children: tuple[str, ...] = ()
    properties: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImageState:
    """What one image of a repository holds."""

    image: str
    manifests: Mapping[str, ManifestState]
    tags: Sequence[TagState]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A deletion: ``tag`` set = only that tag; else the manifest ``digest`` with ``tags``."""

    image: str
    digest: str
    reason: str
    tag: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(slots=True)
class Selection:
    items: list[Candidate] = field(default_factory=list)
    refused: list[Candidate] = field(default_factory=list)


def _matches(c: Condition, m: ManifestState, referrer_types: set[str]) -> bool:
    return holds(c, m.properties, referrer_types)


class _Image:
    """The selection over one image (see ``select``)."""

    def __init__(self, policy: Policy, state: ImageState, now: datetime) -> None:
        self.policy = policy
        self.state = state
        self.now = now
        self.manifests = state.manifests
        self.referrers: dict[str, list[str]] = {}
        self.parents: dict[str, list[str]] = {}
        for m in self.manifests.values():
            if m.subject is not None and m.subject in self.manifests:
                self.referrers.setdefault(m.subject, []).append(m.digest)
            for child in m.children:
                self.parents.setdefault(child, []).append(m.digest)
        self.tags_of: dict[str, list[TagState]] = {}
        for t in state.tags:
            self.tags_of.setdefault(t.digest, []).append(t)

    def referrer_types(self, digest: str) -> set[str]:
        found = (self.manifests[r].artifact_type for r in self.referrers.get(digest, []))
        return {t for t in found if t}

    def protected_by(self, digest: str) -> str | None:
        m = self.manifests.get(digest)
        if m is None:
            return None
        types = self.referrer_types(digest)
        for c in self.policy.protect:
            if _matches(c, m, types):
                return c.text
        return None

    def _where(self, rule: Rule, digest: str) -> bool:
        m = self.manifests.get(digest)
        if m is None:
            return False
        types = self.referrer_types(digest)
        return all(_matches(c, m, types) for c in rule.where)

    def selected_tags(self) -> dict[str, str]:
        """Tag name -> reason, for tags some rule selects and no rule keeps (keep wins)."""
        selected: dict[str, str] = {}
        kept: set[str] = set()
        for number, rule in enumerate(self.policy.rules):
            matching = [
                t
                for t in self.state.tags
                if matches(rule.tags, t.name) and self._where(rule, t.digest)
            ]
            matching.sort(key=lambda t: (t.updated_at, t.name), reverse=True)
            keep = rule.keep_last if rule.keep_last is not None else 0
            kept.update(t.name for t in matching[:keep])
            for t in matching[keep:]:
                age = self.now - t.updated_at
                if rule.older_than is not None and age <= rule.older_than:
                    continue
                why = [f"rule {number + 1} ({rule.describe()})"]
                if rule.keep_last is not None:
                    why.append(f"not among the {rule.keep_last} newest")
                if rule.older_than is not None:
                    why.append(f"tagged {format_age(age)} ago")
                selected.setdefault(t.name, ": ".join([why[0], ", ".join(why[1:])]))
        return {name: why for name, why in selected.items() if name not in kept}

    def run(self, out: Selection) -> None:
        selected = self.selected_tags()
        doomed: dict[str, str] = {}  # digest -> reason
        cause: dict[str, str] = {}  # digest -> the digest whose deletion brought it in
        for digest, on_digest in sorted(self.tags_of.items()):
            chosen = [t.name for t in on_digest if t.name in selected]
            if not chosen:
                continue
            protected = self.protected_by(digest)
            if protected is not None:
                for name in chosen:
                    out.refused.append(
                        Candidate(
                            self.state.image,
                            digest,
                            f"carries protecting property {protected}",
                            tag=name,
                        )
                    )
                continue
            if len(chosen) == len(on_digest):
                doomed[digest] = "every tag selected: " + "; ".join(
                    f"{n}: {selected[n]}" for n in sorted(chosen)
                )
            else:
                for name in sorted(chosen):
                    out.items.append(Candidate(self.state.image, digest, selected[name], tag=name))
        self._untagged(doomed)
        self._close(doomed, cause)
        self._refuse(doomed, cause, out)
        for digest in self._order(doomed):
            tags = tuple(sorted(t.name for t in self.tags_of.get(digest, [])))
            out.items.append(Candidate(self.state.image, digest, doomed[digest], tags=tags))

    def _untagged(self, doomed: dict[str, str]) -> None:
        limit = self.policy.untagged_older_than
        if limit is None:
            return
        for digest, m in sorted(self.manifests.items()):
            if digest in self.tags_of or digest in doomed:
                continue
            if digest in self.parents:  # an index of this image lists it
                continue
            if m.subject is not None and m.subject in self.manifests:  # attached to a subject
                continue
            age = self.now - m.created_at
            if age > limit:
                doomed[digest] = (
                    f"untagged, arrived {format_age(age)} ago"
                    f" (untagged_older_than {self.policy.untagged_text})"
                )

    def _close(self, doomed: dict[str, str], cause: dict[str, str]) -> None:
        """Referrers of a deleted manifest, and untagged children of a deleted index, go too."""
        todo = list(doomed)
        while todo:
            digest = todo.pop()
            linked = [(r, "referrer of") for r in self.referrers.get(digest, [])]
            m = self.manifests.get(digest)
            children = m.children if m is not None else ()
            linked += [(c, "listed by") for c in children if c in self.manifests]
            for other, how in linked:
                if other in doomed or other in self.tags_of:
                    continue
                doomed[other] = f"{how} {digest}, which is deleted"
                cause[other] = digest
                todo.append(other)

    def _refuse(self, doomed: dict[str, str], cause: dict[str, str], out: Selection) -> None:
        """Drop what safety keeps (until nothing changes): protected manifests, children of
        indexes that stay, subjects of referrers that stay, and what came only with those."""
        changed = True
        while changed:
            changed = False
            for digest in sorted(doomed):
                why = self._kept_because(digest, doomed, cause)
                if why is None:
                    continue
                reason = doomed.pop(digest)
                changed = True
                if digest not in cause:  # brought in only by another's deletion: silent
                    tags = tuple(sorted(t.name for t in self.tags_of.get(digest, [])))
                    out.refused.append(
                        Candidate(
                            self.state.image, digest, f"{why} (selected: {reason})", tags=tags
                        )
                    )

    def _kept_because(
        self, digest: str, doomed: Mapping[str, str], cause: Mapping[str, str]
    ) -> str | None:
        protected = self.protected_by(digest)
        if protected is not None:
            return f"carries protecting property {protected}"
        if digest in cause and cause[digest] not in doomed:
            return f"{cause[digest]} stays"
        for parent in self.parents.get(digest, []):
            if parent not in doomed:
                return f"index {parent} stays and lists it"
        for referrer in self.referrers.get(digest, []):
            if referrer not in doomed:
                return f"referrer {referrer} stays and needs it as its subject"
        return None

    def _order(self, doomed: Mapping[str, str]) -> list[str]:
        """Deletion order: a manifest after every pending index listing it and every pending
        referrer of it."""
        pending = set(doomed)
        order: list[str] = []
        while pending:
            ready = sorted(
                d
                for d in pending
                if not any(p in pending for p in self.parents.get(d, []))
                and not any(r in pending for r in self.referrers.get(d, []))
            )
            if not ready:  # impossible for content-addressed graphs; never loop forever
                ready = sorted(pending)
            order += ready
            pending -= set(ready)
        return order


def select(policy: Policy, images: Sequence[ImageState], now: datetime) -> Selection:
    """What ``policy`` deletes in these images at ``now``: tags only, or manifests (with their
    tags), each with a reason; and what it selected but safety keeps, with the reason. Keep
    wins: a tag among a rule's ``keep_last`` newest is kept whatever another rule says, and a
    manifest matching any rule's ``protect`` condition is never touched."""
    out = Selection()
    for state in sorted(images, key=lambda s: s.image):
        _Image(policy, state, now).run(out)
    return out
