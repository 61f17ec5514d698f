"""One ECG cell of the grid: a (task, model, seed) trained, evaluated and written atomically into
`<outputfolder>/<exp>/models/<model>/seed<k>/` (experiments/folders.py).

A cell fine-tuned from another trained cell (`source`, the driver's --init_from) starts from its weights
(models/transfer.py) and trains in the benchmark's two stages (training/finetune.py).

A task scored with the challenge's metrics (ICBEB 2018, as the benchmark's `exp_ICBEB`) also has its
training records predicted (`y_train_pred.npy`), per-class thresholds fitted on them, and the test
predictions binarised with them for F_beta and G_beta beside macro-AUC in `te_results.csv`.
"""
import time
from dataclasses import asdict

import numpy as np
import torch

from code_used_upload.configs.identity import IDENTITY_KEY
from code_used_upload.evaluation.inference import predict_with_recipe
from code_used_upload.evaluation.metrics import (evaluate, evaluate_fmax_auprc, evaluate_with_thresholds, macro_auc,
                                                 per_label_auc, undefined_labels_said_elsewhere, write_te_results)
from code_used_upload.models import build_model, model_recipe
from code_used_upload.models.registry import model_layer_groups
from code_used_upload.models.transfer import load_pretrained
from code_used_upload.reports.figures import plot_training
from code_used_upload.experiments.folders import (CELL_FILE, WEIGHTS_FILE, cell_folder, cell_lock, cell_workspace, provenance,
                                                write_record)
from code_used_upload.training.crops import to_device
from code_used_upload.training.device import configure_numerics, resolve_device
from code_used_upload.training.finetune import finetune_model
from code_used_upload.training.loop import seed_everything, train_model


def run_cell(data, model_name, seed, settings, identity, source=None, finetune_epochs=None):
    """Train, predict, evaluate and write one cell, its `identity` (configs/identity.py) in cell.json;
    returns its test evaluation dict. With `source` (experiments/trained_cell.TrainedCell) the model is
    fine-tuned from that cell for `finetune_epochs` epochs of each stage.

    Labels with an undefined AUC were announced once for the task (experiments/prepare.py), so the
    cell does not repeat that warning at every validation and test evaluation."""
    final = cell_folder(data.folder, model_name, seed)
    with undefined_labels_said_elsewhere(), cell_lock(final, "--outputfolder"), cell_workspace(final) as work:
        return _train_and_write(data, model_name, seed, settings, identity, work, source, finetune_epochs)


def _train_and_write(data, model_name, seed, settings, identity, work, source, finetune_epochs):
    started = time.time()
    settings = settings.for_model(model_name)
    device = resolve_device(settings.device)
    configure_numerics(settings.precision, settings.deterministic, settings.threads)
    recipe = model_recipe(model_name)
    fs = data.sampling_frequency
    standardise = data.standardiser

    def predict(model, signals):
        return predict_with_recipe(model, signals, recipe, fs, device, standardise=standardise)

    seed_everything(seed)
    model = build_model(model_name, num_classes=len(data.classes), input_channels=len(data.leads))
    if source is not None:
        load_pretrained(model, model_name, source.state, source.record["model"])
    model = model.to(device)
    trained = torch.compile(model) if settings.compile else model
    training = dict(validate=lambda m: macro_auc(data.y_val, predict(m, data.X_val)),
                    description=f"{data.task}/{model_name}/seed{seed}", standardise=standardise)
    X_train = to_device(data.X_train, device)
    if source is None:
        history = train_model(trained, X_train, data.y_train, recipe, settings, seed, **training)
    else:
        history = finetune_model(trained, model_layer_groups(model_name, model), X_train, data.y_train, recipe,
                                 settings, seed, finetune_epochs, **training)
    y_val_pred = predict(trained, data.X_val)
    y_test_pred = predict(trained, data.X_test)
    result = evaluate(data.y_test, y_test_pred, bootstrap_ids=data.bootstrap_ids)
    challenge = {}
    if data.challenge:
        y_train_pred = predict(trained, data.X_train)
        scores, thresholds = evaluate_with_thresholds(data.y_train, y_train_pred, data.y_test, y_test_pred,
                                                      data.bootstrap_ids)
        np.save(work / "y_train_pred.npy", y_train_pred)
        challenge = {"test_challenge": scores, "thresholds": thresholds.tolist()}

    (work / "results").mkdir()
    np.save(work / "y_val_pred.npy", y_val_pred)
    np.save(work / "y_test_pred.npy", y_test_pred)
    write_te_results(work / "results" / "te_results.csv", result, challenge.get("test_challenge"),
                     evaluate_fmax_auprc(data.y_test, y_test_pred, data.bootstrap_ids))
    per_label_auc(data.y_test, y_test_pred, data.classes).to_csv(work / "results" / "per_label_auc.csv", index=False)
    torch.save(model.state_dict(), work / WEIGHTS_FILE)
    plot_training(history, work / "training.png")
    record = {
        "task": data.task, "model": model_name, "seed": seed, IDENTITY_KEY: identity, "recipe": recipe.to_dict(),
        "settings": asdict(settings), "epochs": len(history["train_loss"]), **provenance(device, settings),
        "sampling_frequency": fs, "crop": recipe.window(fs), "stride": recipe.stride(fs),
        "classes": data.classes, "scaler": data.scaler, "leads": list(data.leads), "training_records": len(data.y_train),
        **({"init_from": str(source.folder), "finetune_epochs": finetune_epochs} if source is not None else {}),
        "train_loss": history["train_loss"], "val_auc": history["val_auc"], "kept_epoch": history["kept_epoch"],
        "test_macro_auc": result, **challenge, "wall_time_s": round(time.time() - started, 3),
    }
    write_record(work / CELL_FILE, record)
    return {**result, **challenge.get("test_challenge", {})}
