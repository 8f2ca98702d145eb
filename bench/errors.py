"""Errors the CLI turns into one clear line and exit code 2."""


class BadInput(Exception):
    """The user asked for something that cannot be done (unknown name, bad value, missing file).

    The message is shown as-is on one line, so it must name the offending thing.
    """
