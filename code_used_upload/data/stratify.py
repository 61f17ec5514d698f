"""Label-stratified splits that keep a patient's records together, drawn as the PTB-XL benchmark draws its folds.

The benchmark (helme/ecg_ptbxl_benchmarking, `code/utils/stratisfy.py`, after Sechidis et al. 2011)
splits patients, not records: each patient carries the labels of all its records (a label once per
record that has it), and the patients go, label after label, rarest label first, to the subset that
still needs that label most (ties: the subset that needs the most records; further ties: a draw of
numpy's legacy generator seeded 0, as the benchmark's `np.random.seed(0)`). Written anew here, in one
pass per label instead of the benchmark's rescans, with the same order of choices and the same float
arithmetic, so that the same input gives the benchmark's assignment (tests/golden holds its own output).

Where this departs: the benchmark also stratifies on sex and age groups, which a user's label table
does not have, so `draw_folds` stratifies on the labels alone; and it knows no fractions:
`stratified_fraction` keeps a share of the training records with the same procedure and two subsets.
"""
from collections import Counter

import numpy as np
import pandas as pd

N_FOLDS = 10
SEED = 0  # the benchmark's np.random.seed(0)


def stratify(patient_labels, ratios, patient_sizes, seed=SEED):
    """[sorted patient indices of each subset]: the benchmark's `stratify(data, classes, ratios, ...)` with
    no clean folds. `patient_labels`: per patient its labels (a label once per record that carries it);
    `ratios`: the subsets' shares, summing to 1; `patient_sizes`: records per patient. A patient without a
    label goes to no subset."""
    rng = np.random.RandomState(seed)
    counts = [Counter(labels) for labels in patient_labels]
    classes = sorted(set().union(*counts))
    unassigned = {label: {} for label in classes}  # label -> {patient: how often it carries the label}
    for patient, carried in enumerate(counts):
        for label, times in carried.items():
            unassigned[label][patient] = times
    remaining = {label: sum(patients.values()) for label, patients in unassigned.items()}
    size = np.sum(patient_sizes)
    subset_sizes = [ratio * size for ratio in ratios]
    label_needs = {label: [ratio * remaining[label] for ratio in ratios] for label in classes}
    subsets = [[] for _ in ratios]
    while size > 0:
        open_labels = [label for label in classes if remaining[label] > 0]
        if not open_labels:
            break  # only patients without a label are left
        label = min(open_labels, key=remaining.get)  # the rarest; ties: the first in sorted order
        patients = np.array(sorted(unassigned[label]))
        times = np.array([unassigned[label][patient] for patient in patients])
        for patient in patients[np.argsort(times, kind="stable")[::-1]]:  # most occurrences first
            needs = np.array(label_needs[label])
            neediest = np.flatnonzero(needs == needs.max())
            if len(neediest) == 1:
                subset = neediest[0]
            else:
                records_needed = np.array(subset_sizes)[neediest]
                subset = neediest[rng.choice(np.flatnonzero(records_needed == records_needed.max()))]
            subsets[subset].append(patient)
            size -= patient_sizes[patient]
            subset_sizes[subset] -= patient_sizes[patient]
            for carried, times_carried in counts[patient].items():
                for _ in range(times_carried):  # one at a time, as the benchmark: the same float roundings
                    label_needs[carried][subset] -= 1
                remaining[carried] -= unassigned[carried].pop(patient)
    return [sorted(subset) for subset in subsets]


def patient_groups(patient_ids):
    """(group of each record, the records of each group): records of one patient id share a group, groups
    ordered by patient id (numerically where every id is a number, as the benchmark's sorted numeric ids);
    a missing id (None, NaN: an empty cell) makes a group of its own."""
    ids = [f"\0record {record}" if pid is None or pd.isna(pid) else pid for record, pid in enumerate(patient_ids)]
    unique = sorted(set(ids), key=_id_order(ids))
    group_of = {pid: group for group, pid in enumerate(unique)}
    groups = np.array([group_of[pid] for pid in ids], dtype=np.int64)
    # each group's records in their order: one stable sort, not a scan of every record for each group
    ends = np.cumsum(np.bincount(groups, minlength=len(unique)))[:-1]
    return groups, np.split(np.argsort(groups, kind="stable"), ends)


def _id_order(ids):
    try:
        [float(pid) for pid in ids]
    except (TypeError, ValueError):
        return str
    return float


def _grouped_labels(label_lists, patient_ids):
    """(group of each record, labels of each group, records per group)."""
    groups, members = patient_groups(patient_ids)
    labels = [[label for record in records for label in label_lists[record]] for records in members]
    return groups, labels, [len(records) for records in members]


def draw_folds(label_lists, patient_ids, n_folds=N_FOLDS, seed=SEED):
    """(records,) int: each record's fold 1..n_folds, label-stratified over patients (`stratify` with equal
    shares), the records of one patient in one fold. `label_lists`: each record's labels; `patient_ids`: each
    record's patient, None where unknown (the record is then a patient of its own)."""
    groups, labels, sizes = _grouped_labels(label_lists, patient_ids)
    fold_of_group = np.zeros(len(sizes), dtype=np.int64)
    for fold, members in enumerate(stratify(labels, [1 / n_folds] * n_folds, sizes, seed)):
        fold_of_group[members] = fold + 1
    return fold_of_group[groups]


def stratified_fraction(label_lists, patient_ids, fraction, seed=SEED):
    """(records,) bool: the records kept when a `fraction` of them is kept, label-stratified over patients
    (`stratify` with the shares fraction and 1 - fraction, the first kept). A fraction of 1 keeps all."""
    if fraction >= 1:
        return np.ones(len(label_lists), dtype=bool)
    groups, labels, sizes = _grouped_labels(label_lists, patient_ids)
    kept = np.zeros(len(sizes), dtype=bool)
    kept[stratify(labels, [fraction, 1 - fraction], sizes, seed)[0]] = True
    return kept[groups]
