"""The permission decision: pure, data-driven, the one place that says yes or no.

Issue 2 knows only admins (who hold every action). Permission targets and groups plug in
here without touching HTTP handlers.
"""

from __future__ import annotations

from tidegate.auth.principals import Action, Principal


class PermissionEvaluator:
    def allowed(self, principal: Principal, repository: str, image: str, action: Action) -> bool:
        """May ``principal`` perform ``action`` on ``image`` in ``repository``?"""
        return principal.is_admin

    def can_list_catalog(self, principal: Principal) -> bool:
        return not principal.is_anonymous
