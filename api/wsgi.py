"""WSGI entry point for production servers: ``gunicorn 'api.wsgi:app'``.

The schema is brought to the head revision before the app serves (docs/deployment.md, "Schema
changes"); ``waste-ledger init`` must have run once for the operator key and the log. The server
refuses to start (the import fails) when the log is not initialised or the operator key file is
missing or is not the log's operator key in force: it must never sign with another key.
"""

from api import create_app
from api.bootstrap import check_operator_key, upgrade_schema

app = create_app()
upgrade_schema(app)
check_operator_key(app)
