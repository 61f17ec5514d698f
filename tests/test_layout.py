"""The pipeline in the layout: stage packages import only from the stages before them, and a new
backbone is one new file in models/ (trained through the driver with no edit of any other file)."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "code_used_upload"
# each stage may import from itself and the stages before it; the entry points from everything
STAGES = ["errors", "files", "configs", "data", "models", "training", "evaluation", "reports", "experiments"]
ENTRY_POINTS = {"order_results_ptbxl1_upload", "order_results_hmw", "train_hmw", "predict", "benchmark", "gpu_check",
                "measurements"}  # measurements: what benchmark.py and gpu_check.py both measure


def imported_modules(path):
    """Absolute names of the project's modules that `path` imports (relative imports resolved)."""
    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names += [f"{base}.{alias.name}" for alias in node.names] if base else []
    return [name for name in names if name.startswith("code_used_upload.")]


def stage_of(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_stage_imports_from_a_later_one():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        stage = stage_of(".".join(path.relative_to(REPO).with_suffix("").parts))
        if stage in ENTRY_POINTS or stage == "__init__":
            continue
        assert stage in STAGES, f"{path} is in no pipeline stage"
        for name in imported_modules(path):
            target = stage_of(name)
            if target in STAGES and STAGES.index(target) > STAGES.index(stage):
                upward.append(f"{path.relative_to(REPO)} imports {name}")
    assert not upward, "\n".join(upward)


# UniCon's step (training/unicon.py) is written in the pure pieces of its losses, which the golden files test
# where the reference's README puts them (models/unicon.py), and the authors' asym penalty
MODEL_PIECES_TRAINING_USES = ("code_used_upload.models.unicon.", "code_used_upload.models.noisy.negative_entropy")


def test_only_models_know_the_ldm():
    """Data, training and evaluation know no model, head or registry: training asks the model for its loss,
    and uses only the pure loss pieces of UniCon's step."""
    for stage in ("data", "training", "evaluation"):
        for path in (PACKAGE / stage).rglob("*.py"):
            for name in imported_modules(path):
                if name.startswith("code_used_upload.models"):
                    assert stage == "training" and name.startswith(MODEL_PIECES_TRAINING_USES), (path, name)


def test_there_is_no_utils_grab_bag():
    assert not (PACKAGE / "utils").exists()


MY_BACKBONE = '''"""A user's backbone: one file, one decorated function, no other edit."""
from torch import nn

from .heads import ConcatPool1d
from .recipe import Recipe
from .registry import register_backbone


@register_backbone("my_cnn", row="My CNN", recipe=Recipe(max_lr=3e-3))
def my_cnn(input_channels):
    net = nn.Sequential(nn.Conv1d(input_channels, 32, 7, padding=3), nn.BatchNorm1d(32), nn.ReLU(), ConcatPool1d())
    net.out_features = 64
    return net
'''


def test_a_new_backbone_is_one_file_in_models(tmp_path, synthetic_ptbxl):
    """Copy the package, add models/my_cnn.py, and train my_cnn and my_cnn_ldm through the driver."""
    shutil.copytree(PACKAGE, tmp_path / "code_used_upload", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "code_used_upload" / "models" / "my_cnn.py").write_text(MY_BACKBONE)
    out = tmp_path / "outputs"
    command = [sys.executable, "code_used_upload/order_results_ptbxl1_upload.py", "--datafolder", str(synthetic_ptbxl),
               "--outputfolder", str(out), "--models", "my_cnn,my_cnn_ldm", "--tasks", "superdiagnostic",
               "--seeds", "0", "--epochs", "2", "--batch_size", "32", "--device", "cpu"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(out / "results.csv", index_col=0)
    assert list(table.index) == ["My CNN", "My CNN+LDM"]
    assert (table["Macro-AUC(Super-diag.)"] != "-").all()
    for model in ("my_cnn", "my_cnn_ldm"):
        cell = out / "exp1.1.1" / "models" / model / "seed0"
        assert (cell / "y_test_pred.npy").is_file()
        assert '"max_lr": 0.003' in (cell / "cell.json").read_text()
