# One image for web and worker. TORCH_INDEX picks the torch build: CPU by default, a CUDA index for GPU workers
# (e.g. --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128).
FROM node:20-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 \
    LOGACTION_VAR_DIR=/var/lib/logaction LOGACTION_ENVIRONMENT=production
RUN useradd --create-home --uid 1000 logaction
WORKDIR /app
RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0
COPY pyproject.toml README.md ./
COPY app ./app
COPY ml ./ml
RUN pip install .
COPY alembic.ini ./
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY --from=assets /src/node_modules ./node_modules
RUN mkdir -p /var/lib/logaction && chown logaction /var/lib/logaction
USER logaction
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["logaction", "serve", "--host", "0.0.0.0", "--port", "8000"]
