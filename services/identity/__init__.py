"""Identity: links identifiers seen together into persons and serves the identity graph's log."""
