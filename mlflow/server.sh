#!/bin/sh
# The MLflow tracking server of docker-compose.yml. Backend store: the `mlflow` database of the
# PostgreSQL service (mlflow/init-db.sql creates it); artifacts: proxied by this server from
# MLFLOW_ARTIFACTS_DESTINATION (default the mlartifacts volume; s3://bucket/path with
# MLFLOW_S3_ENDPOINT_URL and AWS_* in .env for S3 or MinIO). The password reaches the URI here,
# at run time, from the environment: it is written in no file.
set -eu
exec mlflow server \
    --backend-store-uri "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@${POSTGRES_HOST:-postgres}:5432/mlflow" \
    --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION:-/mlartifacts}" \
    --serve-artifacts \
    --host 0.0.0.0 \
    --port 5000 \
    --allowed-hosts "${MLFLOW_ALLOWED_HOSTS:-mlflow,mlflow:5000,localhost,localhost:5000,127.0.0.1,127.0.0.1:5000}"
