# One image for the channel, Dagster's webserver and Dagster's daemon (compose.yaml runs
# each with its own command). Build from the project folder:
#   docker build -t reveni-khaos:latest .
# The project, its rule sets and meltano.yml are inside; secrets come from the
# environment at run time (docs/integration.md, "Production settings"), never the image.
FROM python:3.11-slim

# UV_COMPILE_BYTECODE: Meltano's plugin environments (built by uv) are compiled at build,
# so a sync starts without compiling its modules first (as pip's .venv is).
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    PATH=/srv/returns/.venv/bin:$PATH \
    MELTANO_PROJECT_ROOT=/srv/returns \
    MELTANO_ENVIRONMENT=prod \
    DAGSTER_HOME=/opt/dagster

RUN useradd --create-home --uid 1000 returns \
    && mkdir -p /srv/returns /opt/dagster \
    && chown returns:returns /srv/returns /opt/dagster
WORKDIR /srv/returns
USER returns

COPY --chown=returns:returns . .

# The same pins as `make install` (constraints.txt), plus what production adds: Meltano's
# Postgres driver, Dagster's webserver and its Postgres storage at dagster's own version.
RUN python -m venv .venv \
    && .venv/bin/pip install --no-cache-dir -c constraints.txt \
        "meltano[postgres]==4.4.1" \
        -e ./tap-reveni \
        -e "./target-khaos-control[channel,postgres]" \
        -e ./orchestration \
        "dagster-webserver==1.13.27" \
        "dagster-postgres==0.29.27" \
    && .venv/bin/meltano install \
    && cp orchestration/dagster.yaml "$DAGSTER_HOME/dagster.yaml"

# 8803: the channel (and its dashboard) Khaos pulls from; 3000: Dagster's webserver.
EXPOSE 8803 3000
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-m", "reveni_khaos_orchestration.location"]
