-- Run once by the PostgreSQL image on an empty volume (docker-entrypoint-initdb.d): the MLflow
-- backend store gets its own database beside Dagster's (POSTGRES_DB, `dagster`).
CREATE DATABASE mlflow;
