"""One exception type for input a user can fix, and the exit status every entry point gives: the message
of such an error on one line, never a traceback."""
import sys


class UserError(Exception):
    """Bad input (a path, a name, a record): the message names it and says what to do."""


def exit_status(run, unit, interrupted):
    """Call `run()`, which returns the failed units as (name, error) pairs; return the entry point's exit
    status: 0, 1 when a unit failed (each said on stderr), 2 for bad input or a file that cannot be read or
    written (its message on one line), 130 on Ctrl-C (with `interrupted`: what is kept and how to resume)."""
    try:
        failed = run()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a folder that cannot be written, a full disk: the file named, on one line
        where = f" {error.filename}" if error.filename else ""
        print(f"error: could not read or write{where} ({error.strerror or error}): check that it can be "
              f"read and its folder written, and that its disk has space, then rerun the same command", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: {interrupted}", file=sys.stderr)
        return 130
    for name, error in failed:
        print(f"{unit} {name} failed: {error}", file=sys.stderr)
    return 1 if failed else 0
