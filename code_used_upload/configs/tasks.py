"""The label tasks of the PTB-XL benchmark: PTB-XL's six and ICBEB 2018's one (and a user's folder's one), their
experiment folders and table columns."""
import re

# task name -> experiment folder under the output folder (the benchmark's own names)
TASK_EXPERIMENTS = {
    "all": "exp0",
    "diagnostic": "exp1",
    "subdiagnostic": "exp1.1",
    "superdiagnostic": "exp1.1.1",
    "form": "exp2",
    "rhythm": "exp3",
}
TASKS = list(TASK_EXPERIMENTS)

# task name -> column of the paper's table
TASK_COLUMNS = {
    "all": "Macro-AUC(All)",
    "diagnostic": "Macro-AUC(Diag.)",
    "subdiagnostic": "Macro-AUC(Sub-diag.)",
    "superdiagnostic": "Macro-AUC(Super-diag.)",
    "form": "Macro-AUC(Form)",
    "rhythm": "Macro-AUC(Rhythm)",
}
AVERAGE_COLUMN = "Macro-AUC(Average)"

# ICBEB 2018 (CPSC 2018): the benchmark's one task on it, all nine labels, in its experiment folder
ICBEB_EXPERIMENTS = {"all": "exp_ICBEB"}
# your own records (--dataset folder): one task, every label of the folder's table, in an experiment folder of its own
FOLDER_EXPERIMENTS = {"all": "exp_folder"}
# dataset -> its tasks -> their experiment folders; the first dataset is the driver's default
DATASET_EXPERIMENTS = {"ptbxl": TASK_EXPERIMENTS, "icbeb": ICBEB_EXPERIMENTS, "folder": FOLDER_EXPERIMENTS}
DATASET_NAMES = {"ptbxl": "PTB-XL", "icbeb": "ICBEB 2018", "folder": "Your records"}

# a task's cells trained on a fraction of its training folds, or fine-tuned from another cell, live beside its own
# experiment folder, in one named after it: exp_ICBEB_finetuned_fraction0.1 (scratch on all the training folds: exp_ICBEB)
FINETUNED, FRACTION = "_finetuned", "_fraction"
VARIANT = re.compile(rf"(?P<experiment>.+?)(?P<finetuned>{FINETUNED})?(?:{FRACTION}(?P<fraction>[0-9.]+(?:e-?[0-9]+)?))?")


def variant_folder(experiment, train_fraction=1.0, finetuned=False):
    """The experiment folder of a task's cells fine-tuned or on a fraction of its training folds."""
    return (experiment + (FINETUNED if finetuned else "")
            + (f"{FRACTION}{train_fraction:g}" if train_fraction != 1 else ""))


def parse_variant_folder(name):
    """(experiment folder, training fraction, fine-tuned) of an experiment folder's name."""
    match = VARIANT.fullmatch(name)
    return match["experiment"], float(match["fraction"] or 1), bool(match["finetuned"])
# ICBEB's table: a column of the collected results -> its header (the benchmark's leaderboard: AUC, F_beta=2, G_beta=2;
# then Fmax and macro-AUPRC, which it does not report for ICBEB)
ICBEB_COLUMNS = {"point": "Macro-AUC", "F_beta_macro": "F_beta=2", "G_beta_macro": "G_beta=2", "fmax": "Fmax",
                 "macro_auprc": "Macro-AUPRC"}
