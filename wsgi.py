"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

import sys

from communication_service import create_app
from communication_service.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # One line, no traceback. Status 4 is gunicorn's "App failed to load": the master stops
    # instead of booting one failing worker after another; flask commands exit with it too.
    print(f"configuration error: {error}", file=sys.stderr)
    sys.exit(4)
