"""The fake Telegram's Bot API methods, one module per area; FakeTelegram mixes them in."""
