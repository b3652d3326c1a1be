"""Commands to agents: which a run's status allows, issuing them (the outbox), what a retry
replays, delivery bookkeeping, acknowledgements, and where webhooks may go."""
