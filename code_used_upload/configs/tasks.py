"""The label tasks of the PTB-XL benchmark: PTB-XL's six and ICBEB 2018's one, their experiment folders and
table columns."""

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
# dataset -> its tasks -> their experiment folders; the first dataset is the driver's default
DATASET_EXPERIMENTS = {"ptbxl": TASK_EXPERIMENTS, "icbeb": ICBEB_EXPERIMENTS}
DATASET_NAMES = {"ptbxl": "PTB-XL", "icbeb": "ICBEB 2018"}
# ICBEB's table: a column of the collected results -> its header (the benchmark's leaderboard: AUC, F_beta=2, G_beta=2;
# then Fmax and macro-AUPRC, which it does not report for ICBEB)
ICBEB_COLUMNS = {"point": "Macro-AUC", "F_beta_macro": "F_beta=2", "G_beta_macro": "G_beta=2", "fmax": "Fmax",
                 "macro_auprc": "Macro-AUPRC"}
