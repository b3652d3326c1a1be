"""Microsoft Teams: every botbuilder import of opslayer lives in this package."""
