"""Persistence: tables, repositories implementing bot.ports, migrations and engine set-up."""
