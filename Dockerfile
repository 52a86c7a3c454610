# Production image: gunicorn serving wsgi:app. Migrations are a separate step:
#   docker run --rm -e DATABASE_URL=... IMAGE flask --app wsgi db upgrade
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=wsgi \
    LOG_FORMAT=json

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY communication_service ./communication_service
COPY migrations ./migrations
COPY wsgi.py gunicorn.conf.py ./

RUN useradd --system --uid 10001 --home-dir /app app && mkdir -p instance && chown app instance
USER app

EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
