"""One module per `takefit` subcommand; each exposes `register(subparsers)`."""
