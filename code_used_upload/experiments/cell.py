"""One cell of the grid: a (task, model, seed) trained, evaluated and written atomically.

A cell is built in a hidden temporary folder beside its final place and renamed into
`<outputfolder>/<exp>/models/<model>/seed<k>/` only when every file is written, so a folder with
that name is always complete, and a run killed at any moment loses at most the cell in flight.
"""
import json
import os
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from code_used_upload.configs.configs import model_config
from code_used_upload.models import build_model
from code_used_upload.utils.crops import crop_length, window_stride
from code_used_upload.utils.inference import predict_records
from code_used_upload.utils.metrics import evaluate, per_label_auc, write_te_results
from code_used_upload.utils.reports import plot_training
from code_used_upload.utils.training import resolve_device, seed_everything, train_model

CELL_FILE = "cell.json"
WEIGHTS_FILE = "model.pt"


@dataclass
class RunSettings:
    """How cells are trained; the same for every cell of one run."""
    epochs: int = 50
    batch_size: int = 128
    device: str = "auto"
    compile: bool = False
    val_every: int = 0
    progress: bool = True


def cell_folder(task_folder, model_name, seed):
    return Path(task_folder) / "models" / model_name / f"seed{seed}"


def is_complete(task_folder, model_name, seed):
    return (cell_folder(task_folder, model_name, seed) / CELL_FILE).exists()


def to_device(array, device):
    """A resident tensor on `device`, copied through pinned memory on CUDA."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def run_cell(data, model_name, seed, settings):
    """Train, predict, evaluate and write one cell; returns its test evaluation dict."""
    final = cell_folder(data.folder, model_name, seed)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    work = final.parent / f".{final.name}.tmp-{platform.node()}-{os.getpid()}"
    (work / "results").mkdir(parents=True)

    started = time.time()
    device = resolve_device(settings.device)
    config = model_config(model_name)
    fs = data.sampling_frequency
    window, stride = crop_length(fs), window_stride(fs)
    seed_everything(seed)
    model = build_model(model_name, num_classes=len(data.classes)).to(device)
    trained = torch.compile(model) if settings.compile else model
    validation = (data.X_val, data.y_val, window, stride) if settings.val_every else None
    history = train_model(trained, to_device(data.X_train, device), data.y_train, config,
                          settings.epochs, settings.batch_size, window, device, seed,
                          validation=validation, val_every=settings.val_every, progress=settings.progress,
                          description=f"{data.task}/{model_name}/seed{seed}")
    y_val_pred = predict_records(trained, data.X_val, window, stride, device)
    y_test_pred = predict_records(trained, data.X_test, window, stride, device)
    result = evaluate(data.y_test, y_test_pred, bootstrap_ids=data.bootstrap_ids)

    np.save(work / "y_val_pred.npy", y_val_pred)
    np.save(work / "y_test_pred.npy", y_test_pred)
    write_te_results(work / "results" / "te_results.csv", result)
    per_label_auc(data.y_test, y_test_pred, data.classes).to_csv(work / "results" / "per_label_auc.csv", index=False)
    torch.save(model.state_dict(), work / WEIGHTS_FILE)
    plot_training(history, work / "training.png")
    record = {
        "task": data.task, "model": model_name, "seed": seed, "config": config,
        "settings": asdict(settings), "device": str(device), "sampling_frequency": fs,
        "crop": window, "stride": stride, "classes": data.classes, "scaler": data.scaler,
        "train_loss": history["train_loss"], "val_auc": history["val_auc"],
        "test_macro_auc": result, "wall_time_s": round(time.time() - started, 3),
        "torch": torch.__version__,
    }
    (work / CELL_FILE).write_text(json.dumps(record, indent=2) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(work, final)
    return result
