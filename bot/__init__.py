"""The opslayer core: the domain, its use cases and the ports it needs. No I/O frameworks here."""
