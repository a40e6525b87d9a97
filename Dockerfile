# The project image: motion_r1_core + pipelines with Dagster, MLflow and the PostgreSQL clients.
# docker-compose.yml runs the MLflow server, the Dagster code server (which also runs what
# Dagster launches, so it is the container that holds GPUs), webserver and daemon from it.
# CPU torch by default; on GPU nodes build with a CUDA wheel:
#   docker compose build --build-arg TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
FROM python:3.11-slim

ARG TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    MOTION_R1_ROOT=/workspace

# git: the runs record the commit they ran at (motion_r1_core/provenance.py)
RUN apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/motion-r1
COPY pyproject.toml constraints.txt README.md ./
COPY motion_r1_core motion_r1_core
COPY pipelines pipelines
# No local CoT model here: the CoT stage asks the OpenAI-compatible endpoint of
# MOTION_R1_LLM_BASE_URL (.env), as the paper's data engine asks DeepSeek-R1.
RUN pip install ${TORCH_SPEC} \
    && pip install -c constraints.txt ".[deploy]"
COPY mlflow/server.sh mlflow/server.sh
COPY configs/dagster/dagster.yaml configs/dagster/workspace.yaml /opt/dagster/home/

# The project root the stages read and write (params.yaml, configs/, data/, artifacts/): a
# named volume in docker-compose.yml, first filled from here.
WORKDIR /workspace
COPY params.yaml dvc.yaml ./
COPY configs configs
