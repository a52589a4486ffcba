"""`python -m services.reporting`: run the reporting service until SIGTERM."""

from services.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", "reporting"]))
