"""What each `convtrack` command does; `services.cli` imports a command's module only to run it."""
