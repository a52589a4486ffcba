"""`python -m services.ingest`: run the ingest service until SIGTERM."""

from services.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", "ingest"]))
