"""The command line: `main` (the Click group) and one module per command; `app` holds the
shared plumbing. Commands call the domain; nothing imports this package.
"""
