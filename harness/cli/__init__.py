"""The command line: a thin layer over the public API; each command imports only what it uses."""
