"""`python -m services.attribution`: run the attribution service until SIGTERM."""

from services.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", "attribution"]))
