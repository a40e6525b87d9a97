#!/bin/sh
# The MLflow tracking server of docker-compose.yml. Backend store: the `mlflow` database of the
# PostgreSQL service (mlflow/init-db.sql creates it); artifacts: proxied by this server from
# MLFLOW_ARTIFACTS_DESTINATION (default the mlartifacts volume; s3://bucket/path with
# MLFLOW_S3_ENDPOINT_URL and AWS_* in .env for S3 or MinIO). The password reaches the URI here,
# at run time, from the environment: it is written in no file. The defaults are the compose
# stack's; tests/test_stack.py runs this same script against a local PostgreSQL.
set -eu
port="${MLFLOW_PORT:-5000}"
# the password URL-quoted; psycopg2 named (SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3)
password=$(python -c 'import os, urllib.parse; print(urllib.parse.quote(os.environ["POSTGRES_PASSWORD"], safe=""))')
exec mlflow server \
    --backend-store-uri "postgresql+psycopg2://${POSTGRES_USER}:${password}@${POSTGRES_HOST:-postgres}:${POSTGRES_PORT:-5432}/${MLFLOW_DB:-mlflow}" \
    --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION:-/mlartifacts}" \
    --serve-artifacts \
    --host "${MLFLOW_HOST:-0.0.0.0}" \
    --port "$port" \
    --workers "${MLFLOW_WORKERS:-4}" \
    --allowed-hosts "${MLFLOW_ALLOWED_HOSTS:-mlflow,mlflow:$port,localhost,localhost:$port,127.0.0.1,127.0.0.1:$port}"
