"""Flask extensions, created unbound and bound in ``create_app``.

The models live in ``ledger.tlog.models`` (and the other packages' models) on their own
declarative base (the domain does not know Flask); Flask-SQLAlchemy is given that base's
metadata, and its session serves them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Session

from ledger.tlog.models import Base

if TYPE_CHECKING:

    class _SQLAlchemy(SQLAlchemy):
        # ``db.session`` is a scoped_session: a proxy that forwards every Session method to
        # the session of the current app context. The use cases in ``ledger`` take a plain
        # Session; to the type checker the proxy is the Session it stands for.
        session: Session  # type: ignore[assignment]


# The engine of REPORTS_DATABASE_URL (a streaming replica), when one is configured.
REPORTS_BIND = "reports"

db: _SQLAlchemy = SQLAlchemy(metadata=Base.metadata)  # type: ignore[assignment]  # see above
