"""The pure domain: statuses, records, the transition table and the detection policy."""
