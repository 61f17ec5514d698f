"""Nothing a user owns is lost: a run is written only into a new or empty folder, a folder holding anything else
('.' included) is refused in one line before anything is read, trained or written, and a checkpoint of
other settings or of another device is refused wherever it lies, whatever its folder is called."""
import pytest
import torch

from code_used_upload import order_results_hmw as hmw_grid
from code_used_upload import order_results_ptbxl1_upload as ecg_grid
from code_used_upload import train_hmw
from code_used_upload.errors import UserError
from code_used_upload.experiments.folders import OUTPUT_MARK, cell_workspace

DIGITS_RUN = ["--dataset", "digits", "--noise_mode", "sym", "--r", "0.6", "--method", "hmw+cce", "--seed", "3",
              "--num_epochs", "3", "--milestones", "2", "--device", "cpu"]
pytestmark = pytest.mark.usefixtures("one_thread")


def one_error_line(capsys):
    error = capsys.readouterr().err.strip()
    assert "Traceback" not in error and len(error.splitlines()) == 1, error
    return error


def plant(folder):
    """A user's files in `folder`: a data file, a notebook in a subfolder; returns their bytes by path."""
    (folder / "notebooks").mkdir(parents=True, exist_ok=True)
    (folder / "data.csv").write_text("id,label\n1,cat\n")
    (folder / "notebooks" / "analysis.ipynb").write_bytes(b"{\"cells\": []}")
    return everything(folder)


def everything(folder):
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_folder_of_yours_or_the_working_directory_is_refused_untouched(tmp_path, capsys, monkeypatch):
    mine = tmp_path / "mine"
    planted = plant(mine)
    # CIFAR under a missing folder: the refusal comes before any data is read (or downloaded)
    refused = ["--dataset", "cifar10", "--data_path", str(tmp_path / "no-cifar-here"), "--device", "cpu"]
    assert train_hmw.main([*refused, "--check_loc", str(mine)]) == 2
    assert f"{mine} is not empty and not a run of this toolkit (it holds data.csv, notebooks)" in one_error_line(capsys)
    assert everything(mine) == planted and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    monkeypatch.chdir(mine)
    assert train_hmw.main([*refused, "--check_loc", "."]) == 2
    assert ". is the working directory" in one_error_line(capsys) and everything(mine) == planted
    assert train_hmw.main([*refused, "--check_loc", ".."]) == 2
    assert "a folder above the working directory" in one_error_line(capsys) and everything(mine) == planted


def test_an_empty_folder_receives_the_run_and_the_same_run_again_does_nothing(tmp_path, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    assert train_hmw.main([*DIGITS_RUN, "--check_loc", str(folder)]) == 0
    written = everything(folder)
    assert "cell.json" in written and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert train_hmw.main([*DIGITS_RUN, "--check_loc", str(folder)]) == 0
    assert "nothing to do" in capsys.readouterr().out and everything(folder) == written


def test_cell_workspace_never_replaces_what_it_did_not_write(tmp_path):
    final = tmp_path / "cell"
    planted = plant(final)
    with pytest.raises(UserError, match="not a run of this toolkit"):
        with cell_workspace(final):
            pytest.fail("the block ran")
    assert everything(final) == planted and sorted(p.name for p in tmp_path.iterdir()) == ["cell"]


def test_the_grids_refuse_an_output_folder_of_yours(tmp_path, capsys, synthetic_ptbxl):
    """Its tables would replace your files of their names (results.md, ...): a folder the toolkit did not write
    is refused, for training and for --report-only alike."""
    planted = plant(tmp_path / "mine")
    (tmp_path / "mine" / "results.md").write_text("# My thesis's results\n")
    planted = everything(tmp_path / "mine")
    hmw = ["--settings", "digits/sym0.4", "--methods", "cce", "--seeds", "0", "--epochs", "2", "--device", "cpu",
           "--outputfolder", str(tmp_path / "mine")]
    ecg = ["--datafolder", str(synthetic_ptbxl), "--outputfolder", str(tmp_path / "mine"), "--models", "fcn_wang",
           "--tasks", "superdiagnostic", "--seeds", "0", "--epochs", "1", "--device", "cpu"]
    for main, argv in ((hmw_grid.main, hmw), (hmw_grid.main, [*hmw, "--report-only"]), (ecg_grid.main, ecg),
                       (ecg_grid.main, [*ecg, "--report-only"])):
        assert main(argv) == 2
        assert "holds files this toolkit did not write (data.csv, notebooks, results.md)" in one_error_line(capsys)
        assert everything(tmp_path / "mine") == planted


def test_the_grids_refuse_a_cell_folder_of_yours_before_training(tmp_path, capsys, synthetic_ptbxl):
    for grid in ("hmw", "ecg"):  # output folders of this toolkit, with a folder of yours where a cell goes
        (tmp_path / grid).mkdir()
        (tmp_path / grid / OUTPUT_MARK).touch()
    cell = tmp_path / "hmw" / "digits" / "sym0.4" / "models" / "cce" / "seed0"
    planted = plant(cell)
    assert hmw_grid.main(["--settings", "digits/sym0.4", "--methods", "cce", "--seeds", "0", "--epochs", "2",
                          "--device", "cpu", "--outputfolder", str(tmp_path / "hmw")]) == 2
    assert f"{cell} is not empty" in (error := one_error_line(capsys)) and "give --outputfolder a new folder" in error
    assert everything(cell) == planted and not (tmp_path / "hmw" / "results.md").exists()
    ecg_cell = tmp_path / "ecg" / "exp1.1.1" / "models" / "fcn_wang" / "seed0"
    planted = plant(ecg_cell)
    assert ecg_grid.main(["--datafolder", str(synthetic_ptbxl), "--outputfolder", str(tmp_path / "ecg"), "--models",
                          "fcn_wang", "--tasks", "superdiagnostic", "--seeds", "0", "--epochs", "1", "--device", "cpu"]) == 2
    assert f"{ecg_cell} is not empty" in one_error_line(capsys)
    assert everything(ecg_cell) == planted and not (tmp_path / "ecg" / "results.md").exists()


def test_the_hmw_grid_refuses_a_checkpoint_of_other_settings_in_one_line(tmp_path, capsys, interrupt_noisy_run):
    common = ["--settings", "digits/sym0.4", "--methods", "hmw+cce", "--seeds", "0", "--device", "cpu",
              "--cpus-per-cell", "1", "--outputfolder", str(tmp_path)]
    interrupt_noisy_run(1)
    assert hmw_grid.main([*common, "--epochs", "3000"]) == 130
    interrupt_noisy_run(None)
    checkpoint = tmp_path / "digits" / "sym0.4" / "models" / "hmw+cce" / ".seed0.checkpoint.pt"
    saved = checkpoint.read_bytes()
    (tmp_path / "results.md").unlink(missing_ok=True)
    capsys.readouterr()
    assert hmw_grid.main([*common, "--epochs", "3"]) == 2  # it printed a traceback, exited 1, rewrote results.md
    assert f"{checkpoint} was made with other settings: recipe.epochs 3000 -> 3" in one_error_line(capsys)
    assert checkpoint.read_bytes() == saved and not (tmp_path / "results.md").exists()


def test_a_checkpoint_is_found_whatever_its_folder_is_called(tmp_path, capsys, interrupt_noisy_run):
    folder = tmp_path / "run[1]"  # a glob pattern, unescaped, matched nothing: the checkpoint resumed silently
    interrupt_noisy_run(1)
    assert train_hmw.main([*DIGITS_RUN, "--check_loc", str(folder)]) == 130
    interrupt_noisy_run(None)
    checkpoint = tmp_path / ".run[1].checkpoint.pt"
    saved = checkpoint.read_bytes()
    capsys.readouterr()
    assert train_hmw.main([*DIGITS_RUN, "--r", "0.2", "--check_loc", str(folder)]) == 2
    assert "r 0.6 -> 0.2" in one_error_line(capsys) and checkpoint.read_bytes() == saved


def test_a_checkpoint_of_another_device_is_refused_naming_both(tmp_path, capsys, interrupt_noisy_run):
    folder = tmp_path / "run"
    interrupt_noisy_run(1)
    assert train_hmw.main([*DIGITS_RUN, "--check_loc", str(folder)]) == 130
    interrupt_noisy_run(None)
    checkpoint = tmp_path / ".run.checkpoint.pt"
    state = torch.load(checkpoint, weights_only=True)
    assert state["device"] == "cpu" and state["generator"].numel() == 5056  # a CPU generator's state
    # as a CUDA machine writes it: its generator's state is 16 bytes, which a CPU generator cannot take
    state.update(device="cuda", generator=torch.zeros(16, dtype=torch.uint8))
    torch.save(state, checkpoint)
    saved = checkpoint.read_bytes()
    capsys.readouterr()
    assert train_hmw.main([*DIGITS_RUN, "--check_loc", str(folder)]) == 2
    error = one_error_line(capsys)
    assert f"{checkpoint} was written on cuda and this run trains on cpu" in error and "--device" in error
    assert checkpoint.read_bytes() == saved and not folder.exists()
    del state["device"]  # a checkpoint of before the device was recorded: told by its generator's state
    torch.save(state, checkpoint)
    assert train_hmw.main([*DIGITS_RUN, "--check_loc", str(folder)]) == 2
    assert "written on cuda" in one_error_line(capsys)


def test_only_the_toolkits_own_files_beside_a_run_are_removed(tmp_path, capsys, interrupt_noisy_run):
    import os

    import socket

    folder = tmp_path / "run"
    mine = tmp_path / ".run.tmp-mine"  # a folder of yours with a name like the toolkit's workspaces
    mine.mkdir()
    (mine / "thesis.txt").write_text("precious")
    (tmp_path / ".run.notes.pt").write_bytes(b"your own file, not a checkpoint")
    abandoned = tmp_path / f".run.tmp-{socket.gethostname()}-{2**22 + 12345}"  # a killed run's, of no live process
    abandoned.mkdir()
    (abandoned / ".workspace-of-this-toolkit").touch()
    interrupt_noisy_run(1)  # another run beside it, run.v2, leaves its checkpoint
    assert train_hmw.main([*DIGITS_RUN, "--check_loc", str(tmp_path / "run.v2")]) == 130
    interrupt_noisy_run(None)
    other = (tmp_path / ".run.v2.checkpoint.pt").read_bytes()
    os.chmod(folder.parent, 0o755)
    assert train_hmw.main([*DIGITS_RUN, "--r", "0.3", "--check_loc", str(folder)]) == 0  # not refused over run.v2's
    assert (mine / "thesis.txt").read_text() == "precious" and (tmp_path / ".run.notes.pt").is_file()
    assert (tmp_path / ".run.v2.checkpoint.pt").read_bytes() == other and not abandoned.exists()


def test_a_run_stopped_while_writing_its_cache_resumes_and_its_temporary_goes(tmp_path, synthetic_ptbxl):
    """A first run killed while writing the signal cache (before the output folder is marked) left only a
    temporary: the rerun recognises the folder as the toolkit's, and removes a temporary of this machine whose
    process has ended; a living process's, another machine's and a file of yours stay."""
    import os
    import socket

    cache = tmp_path / "out" / "cache"
    cache.mkdir(parents=True)
    dead = cache / f".signals_100hz.npy.tmp-{socket.gethostname()}-{2**22 + 12345}"
    kept = {cache / f".signals_100hz.npy.tmp-{socket.gethostname()}-{os.getppid()}": b"a living run's",
            cache / ".signals_100hz.npy.tmp-another-machine-77": b"another machine's",
            cache / ".signals_100hz.npy.tmp-mine": b"yours"}
    for path, content in {dead: b"half a cache", **kept}.items():
        path.write_bytes(content)
    assert ecg_grid.main(["--datafolder", str(synthetic_ptbxl), "--outputfolder", str(tmp_path / "out"),
                          "--tasks", "superdiagnostic", "--prepare-only"]) == 0
    assert (cache / "signals_100hz.npy").is_file() and not dead.exists()
    assert {path: path.read_bytes() for path in kept} == kept


def test_a_file_that_cannot_be_written_is_one_line(capsys):
    from code_used_upload.errors import exit_status

    def full_disk():
        raise OSError("1344000 requested and 524256 written")

    for run, said in ((lambda: (_ for _ in ()).throw(PermissionError(13, "Permission denied", "/out/results.csv")),
                       "/out/results.csv (Permission denied)"), (full_disk, "(1344000 requested and 524256 written)")):
        assert exit_status(run, "cell", "rerun") == 2
        assert said in one_error_line(capsys)


def test_write_atomically_names_the_file_a_short_write_failed_on(tmp_path):
    from code_used_upload.files import write_atomically

    def short_write(file):
        raise OSError("1344000 requested and 524256 written")  # numpy's words on a full disk: no file named

    with pytest.raises(OSError) as failed:
        write_atomically(tmp_path / "signals_100hz.npy", short_write)
    assert failed.value.filename == str(tmp_path / "signals_100hz.npy") and list(tmp_path.iterdir()) == []


def test_a_folder_in_use_is_refused_and_a_kept_empty_folder_keeps_its_permissions(tmp_path):
    from code_used_upload.experiments.folders import cell_lock

    with cell_lock(tmp_path / "run", "--check_loc"):
        with pytest.raises(UserError, match="is being written by another run right now"):
            with cell_lock(tmp_path / "run", "--check_loc"):
                pytest.fail("two holders")
    with cell_lock(tmp_path / "run", "--check_loc"):  # released: the next run takes it
        pass
    (tmp_path / ".run.lock").write_text("mine")  # a file of yours with the lock's name: kept, and the run refused
    with pytest.raises(UserError, match="is not a lock of this toolkit"):
        with cell_lock(tmp_path / "run", "--check_loc"):
            pytest.fail("locked over a file of yours")
    assert (tmp_path / ".run.lock").read_text() == "mine"
    empty = tmp_path / "shared"
    empty.mkdir(mode=0o750)
    empty.chmod(0o750)
    with cell_workspace(empty, "--check_loc") as work:
        (work / "cell.json").write_text("{\"wall_time_s\": 1}")
    assert (empty / "cell.json").is_file() and oct(empty.stat().st_mode & 0o777) == "0o750"


@pytest.mark.parametrize("flags, said", [
    (["--seed", "-1"], "--seed -1: an integer from 0 to 2**32 - 1"),
    (["--gpuid", "-1", "--device", "auto"], "device 'cuda:-1'"),
    (["--lr", "inf"], "--lr inf: a positive learning rate"),
    (["--method", "hmw+cce", "--alpha_nmw", "nan"], "--alpha_nmw nan: HMW's sharpness"),
    (["--top_rate_nmw", "7"], "--top_rate_nmw 7.0: a fraction in (0, 1]"),
    (["--milestones", "0/2"], "--milestones 0/2: epochs from 1 on"),
    (["--method", "cleanlab", "--cv_n_folds", "2000"], "--cv_n_folds 2000: the smallest class"),
    (["--noise_mode", ""], "--noise_mode '': give a value"),
    (["--num_epochs", "1", "--method", "uc", "--warm_up", "5"], "--warm_up 5 is longer than the run"),
], ids=["seed", "gpuid", "lr", "alpha", "top-rate", "milestones", "folds", "empty-mode", "uc-warm-up"])
def test_odd_values_are_one_line_before_anything_is_written(tmp_path, capsys, flags, said):
    assert train_hmw.main([*DIGITS_RUN, *flags, "--check_loc", str(tmp_path / "run")]) == 2
    assert said in one_error_line(capsys) and not list(tmp_path.iterdir())


def test_odd_places_and_files_are_one_line(tmp_path, capsys, monkeypatch):
    import torchvision

    from code_used_upload.data import imagefolder
    from test_imagefolder import grey, write_images

    folder = write_images(tmp_path / "images", {"a": [grey(10 * i) for i in range(6)], "b": [grey(200 - i) for i in range(6)]})
    own = ["--dataset", "imagefolder", "--data_path", str(folder), "--method", "cce", "--num_epochs", "1", "--device", "cpu"]
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "cell.json").write_text("{\"name\": \"my cell\"}")
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pt")
    cases = [(["--check_loc", str(folder / "runs" / "one")], "is inside the folder of images"),
             (["--check_loc", str(tmp_path / "a-file" / "run")], "a-file is a file, so"),
             (["--check_loc", str(tmp_path / "foreign")], "is not empty and not a run of this toolkit"),
             (["--check_loc", str(tmp_path / ("y" * 240))], "a name of 240 bytes"),
             (["--val_fraction", "0", "--check_loc", str(tmp_path / "r")], "--val_fraction 0.0: a fraction strictly"),
             (["--image_size", "64", "--arch", "resnet50", "--pretrained", str(tmp_path / "r18.pt"),
               "--check_loc", str(tmp_path / "r")], "not the weights of torchvision's resnet50"),
             (["--image_size", "64", "--pretrained", str(tmp_path), "--check_loc", str(tmp_path / "r")], "a folder;")]
    for flags, said in cases:
        assert train_hmw.main([*own, *flags]) == 2
        assert said in one_error_line(capsys)
    monkeypatch.setattr(imagefolder, "available_memory", lambda: 10**5)  # 100 kB free: 12 grey images of 300 px do not fit
    assert train_hmw.main([*own, "--image_size", "300", "--check_loc", str(tmp_path / "r")]) == 2
    assert "12 images of 300 x 300 need 1 MB of memory as uint8, and this machine has 0 MB free: give a smaller " \
           "--image_size" in one_error_line(capsys)
    (tmp_path / ".r.checkpoint.pt").write_bytes(b"not torch")  # a file of yours with the name of this run's checkpoint
    assert train_hmw.main([*own, "--check_loc", str(tmp_path / "r")]) == 2
    assert "is not a checkpoint of this toolkit" in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r.checkpoint.pt", "a-file", "foreign", "images", "r18.pt"]
