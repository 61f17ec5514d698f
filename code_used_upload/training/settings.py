"""How one run trains its cells: the same settings for every cell, whatever the model (but what `per_model` sets)."""
from dataclasses import dataclass, replace

PRECISIONS = ("fp32", "tf32", "bf16")  # training/device.py says what each one means


@dataclass
class RunSettings:
    epochs: int = None        # None: each model's recipe (50 for the paper's models); a number overrides every recipe
    batch_size: int = 128
    sampling_frequency: int = 100
    device: str = "auto"      # auto, cpu, cuda or cuda:N; resolved once per process
    compile: bool = False     # torch.compile the model for training
    precision: str = "tf32"   # fp32, tf32 or bf16 (training/device.py)
    deterministic: bool = False  # CUDA: deterministic algorithms, no cuDNN autotuning
    threads: int = None       # intra-op CPU threads of a cell, the same on every executor; None: every core
    val_every: int = 0        # validation macro-AUC every N epochs in training.png (0: only where the recipe needs it)
    progress: bool = True     # a progress bar per cell
    per_model: dict = None    # model name -> {setting: value} overriding these for that model (the demo's XResNet)

    def for_model(self, name):
        """The settings one model's cells train with: its entry of `per_model`, if any, over these."""
        return replace(self, **(self.per_model or {}).get(name, {}), per_model=None)

    def batch_for(self, recipe):
        return self.batch_size if self.batch_size is not None else recipe.batch_size

    def epochs_for(self, recipe):
        return self.epochs if self.epochs is not None else recipe.epochs
