"""A driver's constants as its command-line flags, written once.

Each upper-case constant at the top of a driver gets the flag of its name in lower case (with `_` or
`-`), its value as the default, its comment on the same line as the help, a comma-separated list for a
list, `--x/--no-x` for a bool, and the type of its annotation where the default is None. A driver
passes its choices (listed in --help) and what a default of None means.
"""
import argparse
import re
from pathlib import Path

CONSTANT_LINE = re.compile(r"^([A-Z_]+)(?::[^=]*)?\s*=.*?#\s*(.+)$", re.MULTILINE)


def constant_comments(source_file):
    """{constant: its comment} of the upper-case assignments in `source_file`."""
    return dict(CONSTANT_LINE.findall(Path(source_file).read_text()))


def milestones(text):
    """Epochs separated by `/`, as the HMW authors' `--milestones '125/200'`."""
    try:
        return tuple(int(part) for part in text.split("/") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: epochs separated by /, e.g. 125/200") from None


def comma_list(item_type):
    def parse(text):
        return [item_type(item) for item in text.split(",") if item.strip()]
    return parse


def add_constant_flags(parser, source_file, defaults, annotations, choices=None, none_means=None):
    """One flag per name of `defaults` (name -> default value), its help the constant's comment."""
    comments, choices, none_means = constant_comments(source_file), choices or {}, none_means or {}
    for name, value in defaults.items():
        flags = list(dict.fromkeys([f"--{name.lower()}", f"--{name.lower().replace('_', '-')}"]))
        if isinstance(value, bool):
            parser.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=value,
                                help=f"{comments[name]} (default: {value})")
        elif isinstance(value, list):
            parser.add_argument(*flags, dest=name, type=comma_list(type(value[0])), default=value,
                                help=f"{comments[name]}; comma-separated (default: {','.join(map(str, value))})")
        else:
            kind = annotations.get(name, type(value))
            shown = none_means[name] if value is None else value
            listed = f" [{' | '.join(map(str, choices[name]))}]" if name in choices else ""
            parser.add_argument(*flags, dest=name, type=kind, default=value, metavar=name,
                                help=f"{comments[name]}{listed} (default: {shown})")
