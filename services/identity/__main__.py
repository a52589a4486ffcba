"""`python -m services.identity`: run the identity service until SIGTERM."""

from services.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", "identity"]))
