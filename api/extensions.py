"""Flask extensions, created unbound and bound in ``create_app``.

The models live in ``ledger.models`` on their own declarative base (the domain does not know
Flask); Flask-SQLAlchemy is given that base's metadata, and its session serves them.
"""

from flask_sqlalchemy import SQLAlchemy

from ledger.tlog.models import Base

db = SQLAlchemy(metadata=Base.metadata)
