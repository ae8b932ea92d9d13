FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY dialogues ./dialogues
COPY templates ./templates
RUN pip install --no-cache-dir .
ENV TILLIDSBOT_DB=/data/tillidsbot.db \
    TILLIDSBOT_DIALOGUES=/app/dialogues \
    TILLIDSBOT_TEMPLATES=/app/templates \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
CMD ["tillidsbot", "run"]
