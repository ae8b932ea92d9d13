"""The bare reference for benchmarks/per_update.py: a python-telegram-bot v22 echo bot.

One MessageHandler that replies with the same text; no rate limiter, no storage.
TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE_URL as for `tillidsbot run`.
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the same text."""
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


def main() -> None:
    """Poll until SIGTERM."""
    app = (Application.builder().token(os.environ["TELEGRAM_BOT_TOKEN"])
           .base_url(os.environ["TELEGRAM_API_BASE_URL"]).build())
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling()


if __name__ == "__main__":
    main()
