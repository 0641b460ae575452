# One image for api, workers, beat and migrations. On PyPI the Linux torch wheel is a CUDA build.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 MODERATION_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY moderation ./moderation
COPY workers ./workers
COPY migrations ./migrations
COPY policies ./policies
RUN pip install -e . && useradd --create-home moderation && mkdir -p /data && chown moderation /data
USER moderation
EXPOSE 8000
CMD ["moderation", "serve", "--host", "0.0.0.0"]
