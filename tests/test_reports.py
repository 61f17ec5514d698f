"""The summary table, its files and the training plot, on hand-made cell folders."""

import matplotlib.image
import pandas as pd
import pytest

from code_used_upload.configs.paper import PAPER_MODELS
from code_used_upload.models import model_row
from code_used_upload.configs.tasks import AVERAGE_COLUMN, TASK_COLUMNS
from code_used_upload.evaluation.metrics import write_te_results
from code_used_upload.reports.figures import plot_training
from code_used_upload.reports.tables import (
    collect_results,
    format_cell,
    read_paper_results,
    summary_table,
    write_summary,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_cell(outputfolder, experiment, model, seed_folder, point):
    results = outputfolder / experiment / "models" / model / seed_folder / "results"
    results.mkdir(parents=True)
    write_te_results(results / "te_results.csv", {"point": point, "mean": point, "lower": point - 0.01, "upper": point + 0.01})


@pytest.fixture
def outputfolder(tmp_path):
    write_cell(tmp_path, "exp0", "fcn_wang", "seed0", 0.90)
    write_cell(tmp_path, "exp0", "fcn_wang", "seed1", 0.92)
    write_cell(tmp_path, "exp0", "fcn_wang", ".tmp_seed2", 0.10)  # an incomplete cell: ignored
    write_cell(tmp_path, "exp0", "fcn_wang", "tmpx8_seed3", 0.10)  # ditto
    write_cell(tmp_path, "exp0", "fcn_wang_ldm", "seed0", 0.9254)
    write_cell(tmp_path, "exp3", "fcn_wang", "seed0", 0.80)
    write_cell(tmp_path, "exp3", "fcn_wang", "seed1", 0.84)
    write_cell(tmp_path, "exp3", "naive", "", 0.50)  # the benchmark's seedless naive folder
    write_cell(tmp_path, "exp9", "mymodel", "seed4", 0.70)  # not in the configs: still collected
    return tmp_path


def test_collect_results_reads_complete_cells_only(outputfolder):
    results = collect_results(outputfolder).sort_values(["task", "model", "seed"])
    assert list(results.columns) == ["dataset", "task", "model", "seed", "point", "mean", "lower", "upper",
                                     "F_beta_macro", "G_beta_macro", "fmax", "macro_auprc"]
    assert (results["dataset"] == "ptbxl").all() and results["F_beta_macro"].isna().all()
    assert results["fmax"].isna().all()  # te_results.csv without them: - in their tables until --report-only
    assert list(zip(results["task"], results["model"], results["seed"])) == [
        ("all", "fcn_wang", 0), ("all", "fcn_wang", 1), ("all", "fcn_wang_ldm", 0),
        ("exp9", "mymodel", 4), ("rhythm", "fcn_wang", 0), ("rhythm", "fcn_wang", 1), ("rhythm", "naive", pd.NA),
    ]
    assert results["lower"].tolist() == pytest.approx((results["point"] - 0.01).tolist())


def test_summary_table_cells_order_and_missing(outputfolder):
    table = summary_table(collect_results(outputfolder), ["fcn_wang_ldm", "lstm", "fcn_wang"], ["rhythm", "all"])
    assert list(table.index) == ["LSTM", "FCN_wang", "FCN_wang+LDM"]
    assert list(table.columns) == ["Macro-AUC(All)", "Macro-AUC(Rhythm)", "Macro-AUC(Average)"]
    # all: mean(0.90, 0.92) = 0.910, std (ddof=0) 0.010; rhythm: 0.820(.020);
    # Average: mean of the task means 0.865, mean of the task stds 0.015; one seed: std .000
    assert table.loc["FCN_wang"].tolist() == ["0.910(.010)", "0.820(.020)", "0.865(.015)"]
    assert table.loc["FCN_wang+LDM"].tolist() == ["0.925(.000)", "-", "-"]
    assert table.loc["LSTM"].tolist() == ["-", "-", "-"]
    with_naive = summary_table(collect_results(outputfolder), ["naive", "fcn_wang"], ["rhythm"])
    assert list(with_naive.index) == ["FCN_wang", "naive"]
    assert with_naive.loc["naive"].tolist() == ["0.500(.000)", "0.500(.000)"]


def test_format_cell_drops_the_leading_zero_of_the_std():
    assert format_cell(0.9234, 0.0012) == "0.923(.001)"
    assert format_cell(0.9, 0.0) == "0.900(.000)"


def test_write_summary_writes_the_four_files(outputfolder):
    write_summary(outputfolder, ["fcn_wang", "fcn_wang_ldm"], ["all", "rhythm"])
    markdown = (outputfolder / "results.md").read_text().splitlines()
    assert markdown[0] == "|Method|Macro-AUC(All)|Macro-AUC(Rhythm)|Macro-AUC(Average)|"
    assert markdown[2] == "|FCN_wang|0.910(.010)|0.820(.020)|0.865(.015)|"
    assert markdown[3] == "|FCN_wang+LDM|0.925(.000)|-|-|"
    csv = pd.read_csv(outputfolder / "results.csv", index_col=0, dtype=str)
    assert csv.loc["FCN_wang", "Macro-AUC(Rhythm)"] == "0.820(.020)"
    assert csv.loc["FCN_wang+LDM", "Macro-AUC(Rhythm)"] == "-"
    comparison = (outputfolder / "comparison.md").read_text()
    # the paper's FCN_wang, all: 0.912(.001); ours 0.910 -> -0.002
    assert "|FCN_wang|Macro-AUC(All)|2|0.910(.010)|0.912(.001)|-0.002|" in comparison
    assert "|FCN_wang+LDM|Macro-AUC(Rhythm)|0|-|0.928(.001)|-|" in comparison
    assert "Macro-AUC(Average)|" not in comparison  # the paper averages six tasks, this run two
    png = outputfolder / "results.png"
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert matplotlib.image.imread(png).shape[:2] == (360, 1000)  # two panels of 5 x 3.6 in at 100 dpi


def test_write_summary_without_results_writes_dashes(tmp_path):
    write_summary(tmp_path, ["xresnet1d101"], ["form"])
    assert (tmp_path / "results.md").read_text().splitlines()[2] == "|XResNet1d101|-|-|"
    assert (tmp_path / "results.png").read_bytes()[:8] == PNG_MAGIC


def test_paper_results_cover_the_twelve_rows_and_seven_columns():
    paper, source = read_paper_results()
    assert list(paper.index) == [model_row(m) for m in PAPER_MODELS]
    assert list(paper.columns) == list(TASK_COLUMNS.values()) + [AVERAGE_COLUMN]
    assert paper.stack().str.fullmatch(r"0\.9\d\d\(\.0\d\d\)|0\.8\d\d\(\.0\d\d\)").all()
    assert any("Knowledge-Based Systems" in line for line in source)


def test_plot_training_writes_a_png(tmp_path):
    path = tmp_path / "training.png"
    plot_training({"train_loss": [0.7, 0.5, 0.4], "val_auc": [(1, 0.6), (3, 0.8)]}, path)
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert matplotlib.image.imread(path).shape[:2] == (360, 600)


def test_comparison_shows_the_published_s4_figure_beside_ours(tmp_path):
    for seed, auc in ((0, 0.935), (1, 0.945)):
        write_cell(tmp_path, "exp0", "s4", f"seed{seed}", auc)
    write_summary(tmp_path, ["s4", "s4_ldm"], ["all"])
    comparison = (tmp_path / "comparison.md").read_text()
    assert "|S4|Macro-AUC(All)|2|0.940(.005)|0.9417(.0016)|-0.002|" in comparison
    assert "Mehari & Strodthoff" in comparison
    table = pd.read_csv(tmp_path / "results.csv", index_col=0)
    assert list(table.index) == ["S4", "S4+LDM"]
