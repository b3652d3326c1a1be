"""Alerts: one enum and one table of kinds, their keys, the ledger's rows; the scanner raises,
follows up and resolves them, digests summarise them, and the chat sync posts them."""
