"""Metadata: SQLAlchemy tables, query functions per aggregate, the unit of work, migrations.

Owns: every table and every SQL statement. Query functions take a Connection and never commit;
the caller's ``Database.transaction()`` is the unit of work. Must not import services, auth,
http or any web framework.
"""

from tidegate.db.engine import Database

__all__ = ["Database"]
