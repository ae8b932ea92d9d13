# Build the wheel (conversations and templates ship inside it as package data) ...
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY bot ./bot
COPY dialogues ./dialogues
COPY templates ./templates
RUN pip wheel --no-cache-dir --quiet --no-deps --wheel-dir /dist .

# ... and install only the wheel: the image runs what an operator's `pip install` would.
FROM python:3.11-slim
COPY --from=build /dist /dist
RUN pip install --no-cache-dir --quiet /dist/tillidsbot-*.whl && rm -rf /dist \
    && useradd --system --uid 10001 --home-dir /data tillidsbot \
    && mkdir -p /data && chown tillidsbot /data && chmod 700 /data
WORKDIR /data
ENV TILLIDSBOT_DB=/data/tillidsbot.db \
    PYTHONUNBUFFERED=1
# The leaders' data is personal: the bot runs unprivileged and only it can read /data.
USER tillidsbot
VOLUME ["/data"]
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
    CMD ["tillidsbot", "health", "--quiet"]
CMD ["tillidsbot", "run"]
