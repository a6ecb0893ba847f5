"""Everything web: the one error table, authentication and authorization derived once per
route, the ``/v2`` handlers split by resource, the token endpoint, health.

Handlers are thin: parse, one service call, response. ``http`` never touches tables or drivers.
"""
