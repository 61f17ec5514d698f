"""The paired effect of LDM (evaluation/paired.py, reports/ldm_effect.py) on hand-made cell folders."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from code_used_upload.configs.tasks import TASK_COLUMNS, TASK_EXPERIMENTS
from code_used_upload.evaluation.paired import paired_delta
from code_used_upload.reports.ldm_effect import EFFECT_COLUMNS, LeftOutSeed, paper_delta, write_ldm_effect
from code_used_upload.reports.tables import _parse_cell, read_paper_results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TASK = "superdiagnostic"
PREVALENCES = [0.5, 0.3, 0.15, 0.08]


def labels(rng, records):
    """A (records, labels) 0/1 matrix in which every label has both classes."""
    y = (rng.random((records, len(PREVALENCES))) < PREVALENCES).astype(np.int64)
    y[0], y[1] = 1, 0
    return y


def perfect(y, rng):
    """Scores that rank every positive above every negative: AUC 1 on every label and resample."""
    return y + 0.5 * rng.random(y.shape)


def noisy(y, rng):
    return y + rng.normal(0, 1.0, y.shape)


def make_experiment(outputfolder, task=TASK, records=150, resamples=50):
    """`<exp>/data/` and `test_bootstrap_ids.npy` as the grid's preparation writes them; returns (folder, y_test)."""
    rng = np.random.default_rng(0)
    folder = outputfolder / TASK_EXPERIMENTS[task]
    (folder / "data").mkdir(parents=True)
    y_test = labels(rng, records)
    np.save(folder / "data" / "y_train.npy", labels(rng, 400))
    np.save(folder / "data" / "y_test.npy", y_test)
    (folder / "data" / "classes.txt").write_text("".join(f"L{i}\n" for i in range(len(PREVALENCES))))
    np.save(folder / "test_bootstrap_ids.npy", rng.integers(0, records, (resamples, records)))
    return folder, y_test


def write_cell(folder, model, seed, prediction, name=None):
    cell = folder / "models" / model / (name or f"seed{seed}")
    cell.mkdir(parents=True)
    np.save(cell / "y_test_pred.npy", prediction.astype(np.float32))
    (cell / "cell.json").write_text("{}\n")


@pytest.fixture(scope="module")
def outputfolder(tmp_path_factory):
    """fcn_wang: LDM perfect, baseline noisy; lstm: identical predictions; inception1d: LDM noisy, baseline
    perfect; two seeds each."""
    root = tmp_path_factory.mktemp("ldm_effect")
    folder, y_test = make_experiment(root)
    rng = np.random.default_rng(1)
    for seed in (0, 1):
        write_cell(folder, "fcn_wang", seed, noisy(y_test, rng))
        write_cell(folder, "fcn_wang_ldm", seed, perfect(y_test, rng))
        same = noisy(y_test, rng)
        write_cell(folder, "lstm", seed, same)
        write_cell(folder, "lstm_ldm", seed, same)
        write_cell(folder, "inception1d", seed, perfect(y_test, rng))
        write_cell(folder, "inception1d_ldm", seed, noisy(y_test, rng))
    return root


MODELS = ["fcn_wang", "fcn_wang_ldm", "lstm", "lstm_ldm", "inception1d", "inception1d_ldm"]


@pytest.fixture(scope="module")
def effect(outputfolder):
    frame, left_out = write_ldm_effect(outputfolder, MODELS, [TASK])
    return frame.set_index("backbone"), left_out


def test_ldm_better_on_every_label_is_better(effect, outputfolder):
    frame, left_out = effect
    row = frame.loc["fcn_wang"]
    assert row["verdict"] == "better" and row["p_not_better"] == 0 and row["lower"] > 0
    assert row["seeds"] == "0 1" and left_out == []
    written = pd.read_csv(outputfolder / "ldm_effect.csv", dtype={"seeds": str})
    assert list(written.columns) == EFFECT_COLUMNS
    assert written["backbone"].tolist() == ["lstm", "inception1d", "fcn_wang"]  # the paper's table order
    assert written["task"].tolist() == [TASK] * 3
    markdown = (outputfolder / "ldm_effect.md").read_text()
    assert "|superdiagnostic|FCN_wang|0 1|+" in markdown and "No seed was left out" in markdown
    assert (outputfolder / "ldm_effect.png").read_bytes().startswith(PNG_MAGIC)


def test_identical_predictions_give_zero_and_unclear_and_a_worse_one_worse(effect):
    frame, _ = effect
    same = frame.loc["lstm"]
    assert (same["delta"], same["delta_std"], same["lower"], same["upper"]) == (0, 0, 0, 0)
    assert same["verdict"] == "unclear" and same["p_not_better"] == 1
    worse = frame.loc["inception1d"]
    assert worse["verdict"] == "worse" and worse["upper"] < 0 and worse["p_not_better"] == 1


def test_seeds_of_one_model_only_are_left_out_and_said_so(tmp_path):
    folder, y_test = make_experiment(tmp_path)
    rng = np.random.default_rng(2)
    for seed in (0, 1, 2):
        write_cell(folder, "fcn_wang", seed, noisy(y_test, rng))
    for seed in (0, 1, 3):
        write_cell(folder, "fcn_wang_ldm", seed, perfect(y_test, rng))
    write_cell(folder, "fcn_wang", 4, noisy(y_test, rng), name=".seed4.tmp-host-1")  # unfinished: ignored
    write_cell(folder, "fcn_wang_ldm", 4, noisy(y_test, rng), name=".seed4.tmp-host-2")
    frame, left_out = write_ldm_effect(tmp_path, ["fcn_wang", "fcn_wang_ldm"], [TASK])
    assert frame["seeds"].tolist() == ["0 1"]
    assert left_out == [LeftOutSeed(TASK, "fcn_wang", 2, "fcn_wang_ldm"), LeftOutSeed(TASK, "fcn_wang_ldm", 3, "fcn_wang")]
    markdown = (tmp_path / "ldm_effect.md").read_text()
    assert f"- {TASK}: fcn_wang seed 2 (no fcn_wang_ldm seed 2)" in markdown
    assert f"- {TASK}: fcn_wang_ldm seed 3 (no fcn_wang seed 3)" in markdown


def sklearn_macro_auc(y_true, y_pred):
    """The benchmark's macro-AUC over the labels that have both classes in these rows."""
    keep = [label for label in range(y_true.shape[1]) if 0 < y_true[:, label].sum() < len(y_true)]
    return roc_auc_score(y_true[:, keep], y_pred[:, keep], average="macro")


def test_quantiles_agree_with_sklearn_on_the_resampled_rows():
    rng = np.random.default_rng(3)
    y_true = labels(rng, 60)
    y_true[:, 3] = 0
    y_true[[5, 6], 3] = 1  # a rare label: absent from some resamples, left out of those resamples' means
    y_true = np.hstack([y_true, np.zeros((60, 1), dtype=np.int64)])  # no positive in the test fold: left out
    ids = rng.integers(0, 60, (30, 60))
    assert any(y_true[sample, 3].sum() == 0 for sample in ids)
    baseline = [noisy(y_true, rng) for _ in range(2)]
    ldm = [noisy(y_true, rng) + 0.3 * y_true for _ in range(2)]
    with pytest.warns(UserWarning, match="only one class"):
        result = paired_delta(y_true, baseline, ldm, ids)
    per_seed = np.array([[sklearn_macro_auc(y_true[sample], l[sample]) - sklearn_macro_auc(y_true[sample], b[sample])
                          for sample in ids] for b, l in zip(baseline, ldm)])
    expected = per_seed.mean(axis=0)
    assert result.resample_deltas == pytest.approx(expected, abs=1e-9)
    assert result.lower == pytest.approx(np.quantile(expected, 0.05), abs=1e-9)
    assert result.upper == pytest.approx(np.quantile(expected, 0.95), abs=1e-9)
    assert result.p_not_better == np.mean(expected <= 0)
    points = [sklearn_macro_auc(y_true, l) - sklearn_macro_auc(y_true, b) for b, l in zip(baseline, ldm)]
    assert result.delta == pytest.approx(np.mean(points), abs=1e-9)
    assert result.delta_std == pytest.approx(np.std(points), abs=1e-9)
    assert np.isnan(result.baseline_label_auc[-1])


def test_per_label_csv_agrees_with_sklearn(effect, outputfolder):
    folder = outputfolder / TASK_EXPERIMENTS[TASK]
    y_test, y_train = np.load(folder / "data" / "y_test.npy"), np.load(folder / "data" / "y_train.npy")
    per_label = pd.read_csv(folder / "ldm_per_label.csv")
    assert list(per_label.columns) == ["label", "train_positives", "backbone", "baseline_auc", "ldm_auc", "delta"]
    rows = per_label[per_label["backbone"] == "fcn_wang"]
    assert rows["label"].tolist() == ["L0", "L1", "L2", "L3"]
    assert rows["train_positives"].tolist() == y_train.sum(axis=0).tolist()
    for model, column in (("fcn_wang", "baseline_auc"), ("fcn_wang_ldm", "ldm_auc")):
        predictions = [np.load(folder / "models" / model / f"seed{seed}" / "y_test_pred.npy") for seed in (0, 1)]
        expected = np.mean([roc_auc_score(y_test, p, average=None) for p in predictions], axis=0)
        assert rows[column].to_numpy() == pytest.approx(expected, abs=1e-12)
    assert rows["delta"].to_numpy() == pytest.approx((rows["ldm_auc"] - rows["baseline_auc"]).to_numpy())
    assert (folder / "ldm_per_label.png").read_bytes().startswith(PNG_MAGIC)


def test_paper_delta_is_the_papers_ldm_row_minus_its_baseline_row(effect):
    frame, _ = effect
    paper, _ = read_paper_results()
    column = TASK_COLUMNS[TASK]
    expected = _parse_cell(paper.loc["FCN_wang+LDM", column])[0] - _parse_cell(paper.loc["FCN_wang", column])[0]
    assert frame.loc["fcn_wang", "paper_delta"] == pytest.approx(expected, abs=1e-12)
    assert np.isnan(paper_delta(paper, "my_net", "my_net_ldm", TASK))
    assert np.isnan(paper_delta(None, "fcn_wang", "fcn_wang_ldm", TASK))


def test_no_complete_pair_writes_files_saying_so(tmp_path):
    folder, y_test = make_experiment(tmp_path)
    write_cell(folder, "fcn_wang", 0, noisy(y_test, np.random.default_rng(4)))
    frame, left_out = write_ldm_effect(tmp_path, ["fcn_wang", "fcn_wang_ldm", "lstm"], [TASK, "rhythm"])
    assert frame.empty and list(frame.columns) == EFFECT_COLUMNS
    assert left_out == [LeftOutSeed(TASK, "fcn_wang", 0, "fcn_wang_ldm")]
    assert (tmp_path / "ldm_effect.csv").read_text() == ",".join(EFFECT_COLUMNS) + "\n"
    assert "Nothing to compare" in (tmp_path / "ldm_effect.md").read_text()
    assert (tmp_path / "ldm_effect.png").read_bytes().startswith(PNG_MAGIC)
    assert (folder / "ldm_per_label.csv").read_text() == "label,train_positives,backbone,baseline_auc,ldm_auc,delta\n"
    assert not (tmp_path / TASK_EXPERIMENTS["rhythm"]).exists()  # a task never prepared gets no folder
    empty, nothing = write_ldm_effect(tmp_path / "fresh", ["fcn_wang", "fcn_wang_ldm"], [TASK])
    assert empty.empty and nothing == [] and (tmp_path / "fresh" / "ldm_effect.png").is_file()


def test_running_twice_gives_identical_files(effect, outputfolder):
    paths = [outputfolder / name for name in ("ldm_effect.csv", "ldm_effect.md", "ldm_effect.png")]
    paths += [outputfolder / TASK_EXPERIMENTS[TASK] / name for name in ("ldm_per_label.csv", "ldm_per_label.png")]
    first = [path.read_bytes() for path in paths]
    write_ldm_effect(outputfolder, MODELS, [TASK])
    assert [path.read_bytes() for path in paths] == first
