"""A trained cell read back: its cell.json and its weights, for predict.py and for fine-tuning from it.

The weights are read with `torch.load(..., weights_only=True)`: a cell folder may come from anyone, and
nothing in it is unpickled beyond tensors.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from code_used_upload.data.leads import STANDARD_LEADS
from code_used_upload.errors import UserError
from code_used_upload.experiments.folders import CELL_FILE, WEIGHTS_FILE
from code_used_upload.models import build_model

CELL_KEYS = ["model", "classes", "scaler", "sampling_frequency", "crop", "stride"]
CELL_EXAMPLE = "outputs/exp1.1.1/models/fcn_wang/seed0"


@dataclass
class TrainedCell:
    folder: Path
    record: dict  # its cell.json
    state: dict   # its weights, on the CPU

    @property
    def leads(self):
        """The leads its model takes, in their order (the twelve standard leads for a cell that names none)."""
        return tuple(self.record.get("leads", STANDARD_LEADS))

    def model(self):
        """Its model with its trained weights, on the CPU."""
        model = build_model(self.record["model"], num_classes=len(self.record["classes"]), input_channels=len(self.leads))
        model.load_state_dict(self.state)
        return model


def read_trained_cell(folder, flag="--cell"):
    """The complete cell in `folder` (named by the command-line `flag` in messages); a UserError saying what
    is wrong with it otherwise, its weights checked against its model."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{flag} {folder}: no such folder; pass a trained cell such as {CELL_EXAMPLE}")
    missing = [name for name in (CELL_FILE, WEIGHTS_FILE) if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{flag} {folder} is not a complete trained cell (no {' or '.join(missing)}); "
                        f"pass a folder written by the driver, such as {CELL_EXAMPLE}")
    try:
        record = json.loads((folder / CELL_FILE).read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"{flag} {folder}: {CELL_FILE} is unreadable ({error}); retrain the cell")
    absent = [key for key in CELL_KEYS if key not in record]
    if absent:
        raise UserError(f"{flag} {folder}: {CELL_FILE} lacks {', '.join(absent)}; retrain the cell")
    cell = TrainedCell(folder, record, None)
    try:
        cell.state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        cell.model()
    except Exception as error:  # a truncated file, or weights of another model: both mean retrain
        raise UserError(f"{flag} {folder}: {WEIGHTS_FILE} does not load into {record['model']} with "
                        f"{len(record['classes'])} labels and {len(cell.leads)} leads ({type(error).__name__}); "
                        "retrain the cell")
    return cell
