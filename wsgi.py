"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

from communication_service import create_app

app = create_app()
