"""APScheduler wiring: the periodic jobs of the watch, each a thin call into bot."""
