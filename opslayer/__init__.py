"""opslayer, the ops layer for persistent AI agents: the bot (API, Slack, Teams, scheduler).

The repository keeps the code in its top-level folders `bot/`, `store/`, `scheduler/` and
`adapters/`; installed, they live under this package (`opslayer.bot`, …), so nothing generic
lands in an agent project's site-packages. The agent SDK is the `opslayer-client`
distribution (`opslayer_client`)."""

__version__ = "0.1.0"
