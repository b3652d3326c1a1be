"""`opslayer demo`: opslayer on a fresh SQLite file with simulated agents that produce every
situation an operator meets, and answer commands as real agents would."""
