FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY dialogues ./dialogues
COPY templates ./templates
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /data tillidsbot \
    && mkdir -p /data && chown tillidsbot /data && chmod 700 /data
ENV TILLIDSBOT_DB=/data/tillidsbot.db \
    TILLIDSBOT_DIALOGUES=/app/dialogues \
    TILLIDSBOT_TEMPLATES=/app/templates \
    PYTHONUNBUFFERED=1
# The leaders' data is personal: the bot runs unprivileged and only it can read /data.
USER tillidsbot
VOLUME ["/data"]
# Telegram's webhook (when WEBHOOK_URL is set) and Teams' /api/messages (when TEAMS_APP_ID is).
EXPOSE 8443 3978
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
    CMD ["tillidsbot", "health", "--quiet"]
CMD ["tillidsbot", "run"]
