"""A run's identity: the settings that change its numbers, written into its folder and its checkpoint and
compared before anything is skipped or resumed, so that a number never stands under settings that did not
make it.

An identity has two parts. `table`: what every run of one results table shares (the epochs and batch asked
for, the precision, the data, the HMW options...); a table holds runs of one table part only. `cell`: what
places the run in the table (task or noise setting, model or method, seed) and what follows from it (the
epochs it trained, the data set's fingerprint). Both are plain JSON values, compared after a JSON round
trip, so a tuple and a list of the same numbers are the same setting.

The design is to refuse, never to overwrite: a folder that holds a run of other settings stops the command
with one line naming each differing setting (old -> new) and the two ways out, another folder or deleting
this one. Folders are not keyed by their settings, so the benchmark's layout (`<exp>/models/<model>/seed<k>`)
and the authors' `--check_loc` stay as researchers know them.
"""
import json

from code_used_upload.errors import UserError

IDENTITY_KEY = "identity"
NOT_RECORDED = "(not recorded)"  # a setting one of two identities does not hold


def identity(table, cell, version=None):
    """{"table": ..., "cell": ...} normalised to what JSON gives back; with `version`, the version of what the
    identity records, so that one recorded otherwise is told apart from one of other settings."""
    return json.loads(json.dumps({"table": table, "cell": cell, **({"version": version} if version else {})},
                                 sort_keys=True))


def differences(old, new, prefix=""):
    """'name old -> new' for every setting that differs between two identities (or parts), nested keys dotted."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else [f"{prefix or 'settings'} {_shown(old)} -> {_shown(new)}"]
    if not prefix and {"table", "cell"} & (set(old) | set(new)):  # the settings asked for, then what follows
        return [line for part in ("table", "cell") for line in differences(old.get(part, {}), new.get(part, {}), "")]
    found = []
    for key in sorted(set(old) | set(new), key=lambda key: (str(key).endswith("sha256"), str(key))):
        name = f"{prefix}.{key}" if prefix else str(key)
        if key not in old or key not in new:
            found.append(f"{name} {_shown(old.get(key, NOT_RECORDED))} -> {_shown(new.get(key, NOT_RECORDED))}")
        else:
            found += differences(old[key], new[key], name)
    return found


def _shown(value):
    """A value as a message shows it: text as it is (a fingerprint cut to 12 digits), the rest as JSON."""
    if isinstance(value, str):
        return value[:12] if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else value
    return json.dumps(value)


def same_settings(recorded, wanted):
    """Whether a place's `recorded` identity (None: none recorded) is `wanted`'s."""
    return recorded is not None and recorded.get("version") == wanted.get("version") and not differences(recorded, wanted)


class OtherSettingsError(UserError):
    """A folder or checkpoint holds a run made with other settings than those asked for now."""


def refuse_other_settings(what, recorded, wanted, elsewhere, also=0):
    """Raise OtherSettingsError when `recorded` (None: never recorded) differs from `wanted`.

    `what` names the folder or checkpoint, `elsewhere` the flag that chooses another folder; `also` counts
    further places with other settings, said in the same line. A place that recorded no settings, or recorded
    them in another version than `wanted`'s, is said to be so rather than compared setting by setting."""
    if same_settings(recorded, wanted):
        return
    if recorded is None:
        found = "made before runs recorded their settings"
    elif recorded.get("version") != wanted.get("version"):
        found = (f"made by another version of this toolkit, which recorded its settings otherwise, or is another "
                 f"kind of run (version {recorded.get('version', 1)}, now {wanted.get('version', 1)})")
    else:
        found = f"made with other settings: {'; '.join(differences(recorded, wanted))}"
    more = f" (and {also} more with other settings)" if also else ""
    raise OtherSettingsError(f"{what} was {found}{more}. To keep both, write this run elsewhere ({elsewhere}); to "
                             f"replace it, delete {what}")


def shared_table(identities, what):
    """The one table part of `identities` ({place: identity, or None where none was recorded}), which a
    results table's runs must share; OtherSettingsError naming two places whose settings differ, so that
    a table never mixes runs of different settings. None when there are no runs."""
    places = iter(identities.items())
    first_place, first = next(places, (None, None))
    first_table = (first or {}).get("table", {})
    for place, recorded in places:
        found = differences(first_table, (recorded or {}).get("table", {}))
        if found:
            raise OtherSettingsError(f"{what} would mix runs of different settings: {first_place} and {place} differ "
                                     f"in {'; '.join(found)}. Keep each settings' runs in an output folder of its "
                                     "own, or delete the runs you do not want in this table")
    return first_table if first_place is not None else None


def flat(value, prefix=""):
    """{dotted name: value} of a nested identity part: {"hmw": {"alpha": 100}} -> {"hmw.alpha": 100}."""
    if isinstance(value, dict) and value:
        return {name: item for key in sorted(value)
                for name, item in flat(value[key], f"{prefix}.{key}" if prefix else key).items()}
    return {prefix: value}


def describe_table(table):
    """One line of a table's settings for its report: `epochs 100, batch_size 32, hmw.alpha 100.0, ...`."""
    return ", ".join(f"{name} {_shown(value)}" for name, value in flat(table or {}).items() if name) or "(none recorded)"
