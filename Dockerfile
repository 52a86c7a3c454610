# Production image: gunicorn serving wsgi:app. Migrations are a separate step:
#   docker run --rm -e DATABASE_URL=... IMAGE flask --app wsgi db upgrade
# Runtime requirements only (no embedded PostgreSQL, no mail catcher, no test tools): without
# DATABASE_URL, or (APP_ENV=production) without the sender's identity every email shows
# (EMAIL_SENDER, EMAIL_REPLY_TO, ORGANISATION_*, CONTACT_PERSON, LEGAL_NOTICE), the service
# refuses to start. Nothing is written to HOME or the image's filesystem, so it runs with
# --read-only and any HOME.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=wsgi \
    LOG_FORMAT=json \
    APP_ENV=production

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY communication_service ./communication_service
COPY migrations ./migrations
COPY wsgi.py gunicorn.conf.py ./

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent app
# Numeric, so an orchestrator can check runAsNonRoot.
USER 10001:10001

EXPOSE 8000
# /health answers 200 when the app and its database are up (503 otherwise); the port follows
# GUNICORN_BIND. Python's urllib, so the image needs no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('GUNICORN_BIND', ':8000').rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
