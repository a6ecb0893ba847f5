"""The permission decision: the one place that says yes or no.

Pure evaluation over the identity snapshot (see ``tidegate.auth.snapshot``): a principal may
perform an action on ``<repository>/<image>`` when a permission target covering both grants it
to the principal, to one of its groups, or to anonymous. Admins may do everything.
"""

from __future__ import annotations

from tidegate.auth.identity import IdentityState
from tidegate.auth.principals import Action, Principal


class PermissionEvaluator:
    def __init__(self, state: IdentityState) -> None:
        self.state = state

    def allowed(self, principal: Principal, repository: str, image: str, action: Action) -> bool:
        """May ``principal`` perform ``action`` on ``image`` in ``repository``?"""
        if principal.is_admin:
            return True
        return action in self.state.current().actions(principal, repository, image)

    def allowed_everywhere(self, principal: Principal, repository: str, action: Action) -> bool:
        """May ``principal`` perform ``action`` on every image of ``repository``? The check for
        acts on the repository as a whole (its settings, retention policy, storage figures,
        event subscriptions): a grant limited to some images (include/exclude) does not
        count, or it would reach the images it leaves out."""
        if principal.is_admin:
            return True
        return action in self.state.current().actions_everywhere(principal, repository)

    def actions(self, principal: Principal, repository: str, image: str) -> frozenset[Action]:
        return self.state.current().actions(principal, repository, image)

    def can_list_catalog(self, principal: Principal) -> bool:
        """Every signed-in principal may list (the catalog shows only what it may read);
        anonymous only where some target lets anonymous read."""
        if not principal.is_anonymous:
            return True
        return self.state.current().anonymous_reads_anything()
