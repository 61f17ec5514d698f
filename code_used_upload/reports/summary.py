"""Every summary file of a run, rebuilt from its cell folders: the tables, the figure, the comparisons with
the published values, and the paired effect of LDM. What the grid writes at its end and `--report-only` writes
(both first complete older cells' te_results.csv with Fmax and macro-AUPRC, reports/fmax_auprc.py)."""
from code_used_upload.evaluation.metrics import undefined_labels_said_elsewhere
from code_used_upload.reports.fmax_auprc import add_fmax_auprc
from code_used_upload.reports.ldm_effect import write_ldm_effect
from code_used_upload.reports.tables import write_summary
from code_used_upload.reports.transfer import write_transfer_summary


def write_all_summaries(outputfolder, models, tasks, dataset="ptbxl"):
    """results.md/csv/png, comparison.md, the transfer files (reports/transfer.py) and the LDM effect files of a
    run on `dataset` (and of the other dataset's cells, tables.write_summary), after adding Fmax and macro-AUPRC
    to the cells evaluated before they were computed; returns the seeds left out of the pairs."""
    add_fmax_auprc(outputfolder)
    write_summary(outputfolder, models, tasks, dataset=dataset)
    write_transfer_summary(outputfolder, models, tasks, dataset)
    with undefined_labels_said_elsewhere():  # the task's preparation said it once
        _, left_out = write_ldm_effect(outputfolder, models, tasks, dataset=dataset)
    return left_out
