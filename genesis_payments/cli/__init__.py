"""`genesis-payments`: one sub-module per command group, each with `register(subparsers)`."""
