"""People: who is who (the directory, owner claims, linking chat users), rights, who hears about
a run, channel subscriptions, ownership handoffs, and agents' tokens."""
