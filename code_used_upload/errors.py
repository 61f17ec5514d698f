"""One exception type for input a user can fix: the driver prints its message, never a traceback."""


class UserError(Exception):
    """Bad input (a path, a name, a record): the message names it and says what to do."""
