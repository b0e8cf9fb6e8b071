# The keten API for the server deployment (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KETEN_HOME=/var/lib/keten

WORKDIR /app
COPY pyproject.toml README.md ./
COPY keten ./keten
# compiled kernels kept in the image: the search kernels compiled ahead into an extension
# module (keten.queries.ahead; needs a C compiler, removed again afterwards, and numba's
# kernels serve if it fails), and numba's cache beside keten/queries/kernel.py: no compile
# at the first start, only loading
RUN pip install . \
    && apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && (python -m keten.queries.ahead || echo "continuing with numba's kernels") \
    && apt-get purge -y --auto-remove gcc libc6-dev && rm -rf /var/lib/apt/lists/* \
    && python -c "from keten.queries.kernel import warm_up; warm_up()" \
    && python -c "from keten.queries.threatcascades import warm_up; warm_up()" \
    && useradd --system --uid 10001 --home-dir /var/lib/keten --create-home keten

USER keten
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"
CMD ["keten", "serve", "--host", "0.0.0.0", "--port", "8000"]
