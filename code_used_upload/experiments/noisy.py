"""The noisy-label experiment of the grid (experiments/grid.py): HMW and its baselines on CIFAR-10/100, the
digits or your own images, under synthetic label noise or the labels as they are.

A task is a noise setting, `<dataset>/<mode><rate>` (`cifar10/sym0.5`, `cifar100/asym0.4`, `digits/sym0`
for no noise) or `<dataset>/none` (the labels as they are: `imagefolder/none`), named in one way whatever
way it was written (`sym0.40` is `sym0.4`; experiments/noisy_run.py); its cells are the methods and
seeds, under `<outputfolder>/<dataset>/<mode><rate>/models/<method>/seed<k>/`. A cell is one run of the
authors' `train_main.py` (the same as `train_hmw.py --check_loc <cell folder>`), resolved once
(experiments/noisy_run.py) and trained and written by experiments/noisy_cell.py: the seed draws the noise,
the initialisation and the batches; the noisy labels and their mask are kept in the cell (`noise.npz`).

The methods: cce, sce, hmw+cce, hmw+sce (models/noisy.py) train one network; uc and hmw+uc two
(training/unicon_loop.py). `cleanlab` is what most people who suspect label noise do
(experiments/cleanlab_folds.py): K-fold out-of-fold predicted probabilities from the cce network and
recipe on the noisy labels, `cleanlab.filter.find_label_issues` on them, then the cce network trained on
the samples it keeps.

Before the grid trains anything, every cell it would write is checked (`check_pending`): its folder the
toolkit's own, no checkpoint of other settings or of another device type beside it, a step that fits
the device; so that a refusal is one line before any work, not a failed cell after hours of others.
"""
from dataclasses import dataclass, field
from pathlib import Path

from code_used_upload.experiments.folders import cell_folder
from code_used_upload.experiments.noisy_cell import DESCRIBED_SCORES, run_noisy_cell, preflight
from code_used_upload.experiments.noisy_data import fingerprint, load_images, loaded_fingerprint, run_labels
from code_used_upload.experiments.noisy_run import HMWOptions, RunOptions, parse_task, resolve_run, setting_name
from code_used_upload.reports.noisy import write_noisy_summary


@dataclass(frozen=True)
class NoisyLabelExperiment:
    """The grid's experiment (experiments/grid.py) of noisy-label runs under `outputfolder`."""
    data_path: str
    outputfolder: str
    options: HMWOptions = field(default_factory=HMWOptions)
    run_options: RunOptions = field(default_factory=RunOptions)
    progress: bool = True

    def folder(self, task):
        return Path(self.outputfolder) / setting_name(task)

    def run(self, task, method, seed, settings):
        """The resolved run of one cell (experiments/noisy_run.py)."""
        return resolve_run(parse_task(task), method, seed, self.run_options, self.options, settings, self.data_path)

    def identity(self, task, method, seed, settings):
        run = self.run(task, method, seed, settings)
        images = self.images(run.setting)
        return run.identity(settings, self.fingerprint(run.setting), fingerprint(run_labels(run, images.data)[0]))

    def check_pending(self, task, method, seed, settings):
        """Refuse, in one line, what would stop this pending cell once the grid reached it."""
        run = self.run(task, method, seed, settings)
        preflight(self.images(run.setting), run, settings, self.cell(task, method, seed), "--outputfolder",
                  self.fingerprint(run.setting))

    def cell(self, task, method, seed):
        return cell_folder(self.folder(task), method, seed)

    def prepare(self, task, write=True):
        setting = parse_task(task)
        return setting, self.images(setting, download=write)

    def run_cell(self, data, method, seed, settings):
        setting, images = data
        return run_noisy_cell(images, self.run(setting.name, method, seed, settings), settings,
                              self.cell(setting.name, method, seed), elsewhere="--outputfolder",
                              data_sha256=self.fingerprint(setting))

    def images(self, setting, download=True):
        return load_images(setting.dataset, self.data_path, download, self.run_options.image_size,
                           self.run_options.val_fraction)

    def fingerprint(self, setting):
        return loaded_fingerprint(setting.dataset, self.data_path, self.run_options.image_size,
                                  self.run_options.val_fraction)

    def describe(self, result):
        name, key = next((name, key) for name, key in DESCRIBED_SCORES if key in result)
        return f"last acc {result['last_acc']:.4f}  {name} {result[key]:.3f}"

    def write_summary(self, models, tasks, figure=True):
        write_noisy_summary(self.outputfolder, models, tasks, figure=figure)

    def write_final_summaries(self, models, tasks):
        write_noisy_summary(self.outputfolder, models, tasks, figure=True)
        return []
