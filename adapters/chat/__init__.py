"""Chat surfaces that need no platform: a log notifier (the default) and a recording one."""
