"""ECG leads by name: the twelve standard leads, a subset chosen by the user, a record's leads found by name
in any order and case, and a record brought to another sampling rate.

PTB-XL and ICBEB 2018 keep all twelve leads in the standard order in their signal caches; a run with
`--leads` sees the chosen ones, in the order given. A user's record may name its leads in any order and
case (`AVR`, `aVR`, `avr`), and may have more leads than the run needs.
"""
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from code_used_upload.errors import UserError

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
_BY_KEY = {lead.upper(): lead for lead in STANDARD_LEADS}


def parse_leads(names, flag="--leads"):
    """The standard spelling of each named lead (any case), in the order given; a UserError for an unknown or
    repeated name, or none at all."""
    names = [str(name).strip() for name in names if str(name).strip()]
    unknown = [name for name in names if name.upper() not in _BY_KEY]
    if unknown or not names:
        raise UserError(f"{flag} {','.join(names)}: {'unknown lead ' + ', '.join(unknown) if unknown else 'no lead'}; "
                        f"choose from {', '.join(STANDARD_LEADS)}")
    leads = [_BY_KEY[name.upper()] for name in names]
    if len(set(leads)) < len(leads):
        raise UserError(f"{flag} {','.join(names)}: a lead is named twice")
    return tuple(leads)


def lead_columns(signal_names, leads):
    """(columns of `leads` among a record's `signal_names`, matched in any case; the leads it lacks)."""
    position = {str(name).strip().upper(): column for column, name in reversed(list(enumerate(signal_names)))}
    missing = [lead for lead in leads if lead.upper() not in position]
    return [position.get(lead.upper()) for lead in leads], missing


def describe_missing(missing, signal_names):
    """'lacks the leads V1, V2 (it has I, II)': the end of a message about a record."""
    names = ", ".join(map(str, signal_names))
    return (f"lacks the lead{'s' if len(missing) > 1 else ''} {', '.join(missing)} (it has {len(signal_names)} "
            f"lead{'s' if len(signal_names) != 1 else ''}: {names})")


def resampling_factors(from_rate, to_rate):
    """(up, down): the smallest integers with to_rate / from_rate = up / down (rates to a thousandth of a Hz)."""
    ratio = Fraction(to_rate).limit_denominator(1000) / Fraction(from_rate).limit_denominator(1000)
    return ratio.numerator, ratio.denominator


def resampled_length(length, from_rate, to_rate):
    """The number of samples `resample` gives a record of `length` samples."""
    up, down = resampling_factors(from_rate, to_rate)
    return -(-length * up // down)


def resample(signal, from_rate, to_rate):
    """(time, leads) at `to_rate` as float32: scipy.signal.resample_poly, a polyphase filter with its Kaiser
    anti-aliasing low-pass (beta 5), along time; the signal unchanged where the rates agree."""
    up, down = resampling_factors(from_rate, to_rate)
    if up == down:
        return np.asarray(signal, dtype=np.float32)
    return resample_poly(np.asarray(signal, dtype=np.float64), up, down, axis=0).astype(np.float32)
