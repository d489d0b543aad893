"""WSGI entry point for production servers: ``gunicorn 'api.wsgi:app'``."""

from api import create_app

app = create_app()
