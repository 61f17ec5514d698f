"""The six label tasks of the PTB-XL benchmark: their experiment folders and table columns."""

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
