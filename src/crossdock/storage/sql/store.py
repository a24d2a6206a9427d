"""What every SQL store shares: the unit of work's connection, and an INSERT in its dialect's own form (for ON
CONFLICT). Its own module so that the store modules and uow.py, which imports them, can all build on it.
Must not: hold SQL of any one store.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


class Store:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.postgres = conn.dialect.name == "postgresql"

    def _insert(self, table: sa.Table) -> Any:
        return (postgresql.insert if self.postgres else sqlite.insert)(table)
