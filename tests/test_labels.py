"""The six label tasks and the fold split against the benchmark's own labels and definitions."""

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MultiLabelBinarizer

from code_used_upload.configs.tasks import TASKS
from code_used_upload.errors import UserError
from code_used_upload.data.labels import split_folds, task_labels
from code_used_upload.data.ptbxl import load_database, load_statements


def test_all_labels_equal_the_benchmarks_test_labels_on_the_real_slice(shared_dir):
    """Rows of the benchmark's y_test for fold-10 records with ecg_id <= 200, label by label."""
    database = load_database(shared_dir / "ptbxl-sample")
    keep, Y, classes = task_labels(database, load_statements(shared_dir / "ptbxl-sample"), "all")
    _, _, test = split_folds(database["strat_fold"][keep])
    ours = Y[test]
    reference = np.load(shared_dir / "reference/exp0/y_test.npy", allow_pickle=False)
    reference_classes = (shared_dir / "reference/exp0/classes.txt").read_text().split()
    assert len(ours) == 29  # the slice's fold-10 records, all with a label
    reference = reference[: len(ours)]
    assert set(classes) <= set(reference_classes)
    for column, label in enumerate(reference_classes):
        expected = reference[:, column]
        got = ours[:, classes.index(label)] if label in classes else np.zeros(len(ours), dtype=int)
        np.testing.assert_array_equal(got, expected, err_msg=label)


def benchmark_labels(database, statements, task):
    """The benchmark's aggregation, written from its definition: pandas apply + MultiLabelBinarizer."""
    kind = {"all": None, "diagnostic": "diagnostic", "subdiagnostic": "diagnostic", "superdiagnostic": "diagnostic", "form": "form", "rhythm": "rhythm"}[task]
    table = statements if kind is None else statements[statements[kind] == 1.0]
    field = {"subdiagnostic": "diagnostic_subclass", "superdiagnostic": "diagnostic_class"}.get(task)

    def aggregate(codes):
        found = [key if field is None else table.loc[key, field] for key in codes if key in table.index]
        return list({label for label in found if str(label) != "nan"})

    labels = database["scp_codes"].apply(aggregate)
    keep = labels.apply(len) > 0
    binarizer = MultiLabelBinarizer().fit(labels[keep].values)
    return keep.values, binarizer.transform(labels[keep].values), list(binarizer.classes_)


@pytest.mark.parametrize("task", TASKS)
def test_tasks_equal_the_benchmark_aggregation(synthetic_ptbxl, shared_dir, task):
    for folder in (synthetic_ptbxl, shared_dir / "ptbxl-sample"):
        database, statements = load_database(folder), load_statements(folder)
        keep, Y, classes = task_labels(database, statements, task)
        expected_keep, expected_Y, expected_classes = benchmark_labels(database, statements, task)
        np.testing.assert_array_equal(keep, expected_keep)
        assert classes == expected_classes
        np.testing.assert_array_equal(Y, expected_Y)


def test_full_statement_file_gives_the_papers_label_counts(shared_dir):
    """With every statement present once, the official file yields 71/44/23/5/19/12 labels."""
    statements = load_statements(shared_dir / "ptbxl-sample")
    database = pd.DataFrame({"scp_codes": [{code: 0.0} for code in statements.index]})
    counts = {task: len(task_labels(database, statements, task)[2]) for task in TASKS}
    assert counts == {"all": 71, "diagnostic": 44, "subdiagnostic": 23, "superdiagnostic": 5, "form": 19, "rhythm": 12}


def test_label_rules_on_hand_made_records(shared_dir):
    statements = load_statements(shared_dir / "ptbxl-sample")
    database = pd.DataFrame({"scp_codes": [
        {"IMI": 15.0, "ILMI": 0.0, "SR": 0.0},   # likelihood 0 counts; IMI and ILMI share subclass IMI
        {"XYZ": 100.0},                           # unknown code: no label, record dropped
        {"NORM": 100.0, "LVOLT": 0.0, "AFIB": 0.0},
    ]})
    keep, Y, classes = task_labels(database, statements, "subdiagnostic")
    assert keep.tolist() == [True, False, True] and classes == ["IMI", "NORM"]
    assert Y.tolist() == [[1, 0], [0, 1]]
    keep, Y, classes = task_labels(database, statements, "all")
    assert classes == ["AFIB", "ILMI", "IMI", "LVOLT", "NORM", "SR"]
    assert Y.tolist() == [[0, 1, 1, 0, 0, 1], [1, 0, 0, 1, 1, 0]]
    keep, Y, classes = task_labels(database, statements, "form")
    assert keep.tolist() == [False, False, True] and classes == ["LVOLT"]
    assert task_labels(database, statements, "superdiagnostic")[2] == ["MI", "NORM"]


def test_unknown_task_lists_the_valid_ones(shared_dir):
    folder = shared_dir / "ptbxl-sample"
    with pytest.raises(UserError) as error:
        task_labels(load_database(folder), load_statements(folder), "superdiag")
    assert "superdiag" in str(error.value) and all(task in str(error.value) for task in TASKS)


def test_folds_one_to_eight_train_nine_validation_ten_test():
    train, validation, test = split_folds(pd.Series([1, 8, 9, 10, 5, 9]))
    assert train.tolist() == [True, True, False, False, True, False]
    assert validation.tolist() == [False, False, True, False, False, True]
    assert test.tolist() == [False, False, False, True, False, False]
