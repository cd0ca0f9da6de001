"""The forms shipped with the bot, as TOML files (see `bot.conversation.form_files`)."""
