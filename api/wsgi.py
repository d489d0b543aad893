"""WSGI entry point for production servers: ``gunicorn 'api.wsgi:app'``.

The schema is brought to the head revision before the app serves (docs/deployment.md, "Schema
changes"); ``waste-ledger init`` must have run once for the operator key and the log.
"""

from api import create_app
from api.bootstrap import upgrade_schema

app = create_app()
upgrade_schema(app)
