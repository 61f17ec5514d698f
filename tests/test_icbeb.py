"""ICBEB 2018: ten real challenge records through the converter, in the challenge's files and in PhysioNet's
(with more records written in PhysioNet's layout), against the benchmark's own table rows, its resumable
conversion and clear errors, the task labels, and get_icbeb.sh offline from either source."""

import ast
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb
from scipy.io import loadmat, savemat
from scipy.ndimage import zoom

from code_used_upload.data import icbeb
from code_used_upload.data.icbeb import convert, icbeb_labels, load_icbeb_database, load_split
from code_used_upload.errors import UserError

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "icbeb-sample"
SCRIPT = REPO / "get_icbeb.sh"
# the sample README's table: record -> (ecg_id, samples at 500 Hz, samples at 100 Hz)
RECORDS = {
    "A1980": (981, 5000, 1000), "A1981": (652, 7950, 1590), "A1982": (1881, 5000, 1000), "A1983": (849, 7500, 1500),
    "A1984": (47, 9500, 1900), "A1985": (1335, 5517, 1103), "A1986": (647, 21500, 4300), "A1987": (1763, 6778, 1356),
    "A1988": (1234, 27157, 5431), "A1989": (645, 8500, 1700),
}
LEADS = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def challenge_files(folder):
    """The ten records as the challenge's archives unpack (in subfolders) with REFERENCE.csv on top."""
    for i, name in enumerate(sorted(RECORDS)):
        subfolder = folder / ("TrainingSet1" if i < 5 else "TrainingSet2/nested")
        subfolder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE / f"{name}.mat", subfolder / f"{name}.mat")
    shutil.copyfile(SAMPLE / "REFERENCE.csv", folder / "REFERENCE.csv")
    return folder


def mat_data(name):
    return loadmat(SAMPLE / f"{name}.mat")["ECG"][0][0][2]


# PhysioNet's copy (CinC Challenge 2020/2021, training/cpsc_2018/g1..g7): .hea with #Dx beside a MATLAB v4 `val`

CINC = SAMPLE / "cinc-format"
CINC_LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
# records beyond the shared ten, written in the same layout: #Dx in another order than the published table's,
# three labels, a code the challenge's REFERENCE.csv repeats (6,6), an age PhysioNet does not know
MORE_RECORDS = {"A0163": ("270492004,164931005", "52"), "A1666": ("284470004,59118001,164931005", "71"),
                "A0953": ("284470004", "78"), "A1549": ("59118001", "NaN")}


def write_cinc_record(folder, name, val, dx, age, sex="Male"):
    """A record as PhysioNet's CinC releases carry CPSC 2018: the header (initial value and 16-bit checksum
    of every lead, the date CinC 2021's copies carry) and `val` written by scipy as MATLAB v4."""
    folder.mkdir(parents=True, exist_ok=True)
    savemat(folder / f"{name}.mat", {"val": val}, format="4")
    checksums = (val.astype(np.int64).sum(axis=1) + 2**15) % 2**16 - 2**15
    lines = [f"{name} 12 500 {val.shape[1]} 12-May-2020 12:33:59"]
    lines += [f"{name}.mat 16+24 1000/mV 16 0 {first} {checksum} 0 {lead}"
              for first, checksum, lead in zip(val[:, 0], checksums, CINC_LEADS)]
    lines += [f"#Age: {age}", f"#Sex: {sex}", f"#Dx: {dx}", "#Rx: Unknown", "#Hx: Unknown", "#Sx: Unknown"]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")


def physionet_files(folder):
    """The shared ten verbatim and MORE_RECORDS, spread over g1..g7 as PhysioNet lays them out; no REFERENCE.csv."""
    for i, name in enumerate(sorted(RECORDS)):
        group = folder / "training" / "cpsc_2018" / f"g{i % 7 + 1}"
        group.mkdir(parents=True, exist_ok=True)
        for suffix in (".hea", ".mat"):
            shutil.copyfile(CINC / f"{name}{suffix}", group / f"{name}{suffix}")
    for i, (name, (dx, age)) in enumerate(MORE_RECORDS.items()):
        signal = np.random.default_rng(i).normal(0, 300, (12, 3000 + 7 * i)).round().astype(np.int16)
        write_cinc_record(folder / "training" / "cpsc_2018" / f"g{i + 1}", name, signal, dx, age)
    return folder


def cinc_val(src, name):
    return loadmat(next(src.rglob(f"{name}.mat")))["val"]


def damage_header(src, name, old, new):
    header = next(src.rglob(f"{name}.hea"))
    header.write_text(header.read_text().replace(old, new))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The ten records converted once over two worker processes."""
    root = tmp_path_factory.mktemp("icbeb")
    return convert(challenge_files(root / "src"), root / "ICBEB", workers=2, progress=False)


def test_table_is_the_benchmarks_rows_and_statements_are_ptbxls(converted):
    assert (converted / "icbeb_database.csv").read_bytes() == (SAMPLE / "icbeb_database.csv").read_bytes()
    assert (converted / "scp_statements.csv").read_bytes() == (REPO / "code_used_upload/data/scp_statements.csv").read_bytes()
    database = load_icbeb_database(converted)
    published = pd.read_csv(SAMPLE / "icbeb_database.csv", index_col="ecg_id")
    assert list(database.index) == sorted(ecg_id for ecg_id, _, _ in RECORDS.values())
    for column in ["filename", "validation", "age", "sex", "patient_id", "quality", "strat_fold"]:
        assert database[column].tolist() == published[column].tolist(), column
    assert database.loc[981, "scp_codes"] == {"PAC": 100}
    assert set(os.listdir(converted)) == {"icbeb_database.csv", "scp_statements.csv", "records500", "records100"}


@pytest.mark.parametrize("rate", [500, 100])
def test_records_are_named_by_ecg_id_with_their_own_lengths(converted, rate):
    assert sorted(os.listdir(converted / f"records{rate}")) == sorted(
        f"{ecg_id}{suffix}" for ecg_id, _, _ in RECORDS.values() for suffix in (".dat", ".hea"))
    for name, (ecg_id, n_500, n_100) in RECORDS.items():
        record = wfdb.rdrecord(str(converted / f"records{rate}" / str(ecg_id)))
        assert (record.fs, record.sig_name, record.units, record.fmt) == (rate, LEADS, ["mV"] * 12, ["16"] * 12)
        assert record.sig_len == (n_500 if rate == 500 else n_100) == (mat_data(name).shape[1] if rate == 500
                                                                     else round(mat_data(name).shape[1] / 5))


def test_values_agree_with_the_mat_to_one_quantisation_step(converted):
    for name, (ecg_id, _, _) in RECORDS.items():
        data = mat_data(name)
        for rate, expected in ((500, data.T), (100, np.stack([zoom(lead, 0.2) for lead in data], axis=1))):
            record = wfdb.rdrecord(str(converted / f"records{rate}" / str(ecg_id)))
            step = 1 / np.array(record.adc_gain)
            assert np.all(np.abs(record.p_signal - expected) <= step), (name, rate)
            assert np.abs(record.p_signal - expected).max() > 0  # really read back from 16-bit samples
            assert np.all(np.abs(record.p_signal[0] - data[:, 0]) <= step), (name, rate)  # the first sample is kept


def test_labels_in_row_order_repeats_once_and_missing_age(tmp_path):
    """Records the sample lacks, written with scipy: two labels in the row's order, a code repeated
    in its row, no age (NaN in the published table)."""
    split = load_split().set_index("filename")
    src = tmp_path / "src"
    (src / "TrainingSet3").mkdir(parents=True)
    rows = {"A0163": ("9", "3", ""), "A0953": ("6", "6", ""), "A1549": ("5", "", "")}
    assert split.loc["A0163", "scp_codes"] == "{'STE_': 100, '1AVB': 100}"
    assert split.loc["A1549", "scp_codes"] == "{'CRBBB': 100}"
    for name, age in [("A0163", 52), ("A0953", 78), ("A1549", np.nan)]:
        signal = np.random.default_rng(0).normal(size=(12, 3001))
        savemat(src / "TrainingSet3" / f"{name}.mat", {"ECG": {"sex": "Male", "age": age, "data": signal}})
    (src / "REFERENCE.csv").write_text("Recording,First_label,Second_label,Third_label\r\n"
                                       + "".join(f"{name},{','.join(codes)}\r\n" for name, codes in rows.items()))
    database = load_icbeb_database(convert(src, tmp_path / "ICBEB", workers=1, progress=False))
    assert database.set_index("filename")["scp_codes"].map(str).to_dict() == split.loc[list(rows), "scp_codes"].to_dict()
    assert database.loc[split.loc["A1549", "ecg_id"], "age"] != database.loc[split.loc["A1549", "ecg_id"], "age"]  # NaN
    assert database["sex"].tolist() == [1, 1, 1]
    assert wfdb.rdrecord(str(tmp_path / "ICBEB" / "records100" / str(split.loc["A0953", "ecg_id"]))).sig_len == 600


def test_interrupted_conversion_looks_incomplete_and_a_rerun_keeps_finished_records(tmp_path, monkeypatch):
    src, dst = challenge_files(tmp_path / "src"), tmp_path / "ICBEB"
    real_replace, renames = os.replace, []

    def interrupted_replace(source, target):
        if len(renames) == 5:  # the first record whole (four files), the second one's 500 Hz signal file
            raise KeyboardInterrupt
        renames.append(Path(target))
        real_replace(source, target)

    monkeypatch.setattr(icbeb.os, "replace", interrupted_replace)
    with pytest.raises(KeyboardInterrupt):
        convert(src, dst, workers=1, progress=False)
    monkeypatch.setattr(icbeb.os, "replace", real_replace)
    assert not (dst / "icbeb_database.csv").exists() and not (dst / "scp_statements.csv").exists()
    with pytest.raises(UserError, match="get_icbeb.sh"):
        load_icbeb_database(dst)
    assert (dst / "records500" / "645.dat").exists() and not (dst / "records500" / "645.hea").exists()
    first = {path: path.stat().st_mtime_ns for path in renames[:4]}  # ecg_id 47's four files

    assert convert(src, dst, workers=1, progress=False) == dst
    assert {path: path.stat().st_mtime_ns for path in first} == first  # reused, not written again
    assert (dst / "icbeb_database.csv").read_bytes() == (SAMPLE / "icbeb_database.csv").read_bytes()
    assert not (dst / icbeb.WORK).exists()
    assert wfdb.rdrecord(str(dst / "records500" / "645")).sig_len == 8500


def test_a_complete_folder_is_left_alone(converted, tmp_path):
    before = {path: path.stat().st_mtime_ns for path in converted.rglob("*")}
    assert convert(tmp_path / "nothing here", converted, progress=False) == converted  # src is not even read
    assert {path: path.stat().st_mtime_ns for path in converted.rglob("*")} == before


def edit_reference(folder, record, codes):
    reference = (folder / "REFERENCE.csv").read_text()
    (folder / "REFERENCE.csv").write_text(reference.replace(f"{record},8,,", f"{record},{codes}"))


@pytest.mark.parametrize("layout,damage,message", [
    (challenge_files, lambda src: edit_reference(src, "A1985", "1,,"), r"A1985 \{'NORM': 100\} \(published \{'STD_': 100\}\)"),
    (challenge_files, lambda src: edit_reference(src, "A1985", "8,10,"), r"records A1985 \(8 10\) no label or a code outside 1-9"),
    (challenge_files, lambda src: edit_reference(src, "A1985", ",,"), r"records A1985 \(none\) no label"),
    (challenge_files, lambda src: shutil.copyfile(src / "TrainingSet1/A1980.mat", src / "TrainingSet1/B0001.mat"), "records B0001 .* not in"),
    (challenge_files, lambda src: (src / "REFERENCE.csv").write_text((src / "REFERENCE.csv").read_text().replace("A1984,8,,\n", "")),
     r"records A1984 have no single row"),
    (challenge_files, lambda src: (src / "REFERENCE.csv").unlink(), "REFERENCE.csv not found"),
    (challenge_files, lambda src: shutil.copyfile(src / "TrainingSet1/A1980.mat", src / "A1980.mat"), "A1980 each occur more than once"),
    (physionet_files, lambda src: damage_header(src, "A1985", "#Dx: 429622005", "#Dx: 426783006"),
     r"#Dx lines under .* label records A1985 \['NORM'\] \(published \{'STD_': 100\}\)"),
    (physionet_files, lambda src: damage_header(src, "A0163", "#Dx: 270492004,164931005", "#Dx: 270492004"),
     r"A0163 \['1AVB'\] \(published \{'STE_': 100, '1AVB': 100\}\)"),
    (physionet_files, lambda src: damage_header(src, "A1985", "#Dx: 429622005", "#Dx: 429622005,427172004"),
     r"records A1985 \(429622005 427172004\) no label or a code outside CPSC 2018's nine classes"),
    (physionet_files, lambda src: damage_header(src, "A1985", "#Dx: 429622005\n", ""), r"records A1985 \(none\) no label"),
    (physionet_files, lambda src: next(src.rglob("A1981.mat")).unlink(), "records A1981 .* have a header but no .mat beside it"),
    (physionet_files, lambda src: write_cinc_record(src / "extra", "E00001", np.zeros((12, 10), np.int16), "426783006", "1"),
     "records E00001 .* not in the benchmark's ICBEB 2018 table"),
])
def test_bad_inputs_are_named_before_anything_is_written(tmp_path, layout, damage, message):
    src, dst = layout(tmp_path / "src"), tmp_path / "ICBEB"
    damage(src)
    with pytest.raises(UserError, match=message):
        convert(src, dst, workers=1, progress=False)
    assert not dst.exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_truncated_mat_is_named_and_nothing_looks_complete(tmp_path, workers):
    src, dst = challenge_files(tmp_path / "src"), tmp_path / "ICBEB"
    mat = src / "TrainingSet1" / "A1984.mat"  # ecg_id 47: the first to convert
    mat.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])
    with pytest.raises(UserError, match=r"A1984\.mat is not a readable challenge record .*unpack the challenge's archive again"):
        convert(src, dst, workers=workers, progress=False)
    assert not (dst / "icbeb_database.csv").exists()


def test_icbeb_labels_are_the_nine_codes_in_alphabetical_order(converted):
    Y, classes = icbeb_labels(load_icbeb_database(converted))
    assert classes == ["1AVB", "AFIB", "CLBBB", "CRBBB", "NORM", "PAC", "STD_", "STE_", "VPC"]
    published = pd.read_csv(SAMPLE / "icbeb_database.csv")["scp_codes"].map(ast.literal_eval)
    assert Y.dtype == np.int64 and Y.shape == (10, 9)
    assert [[classes[i] for i in np.flatnonzero(row)] for row in Y] == [list(codes) for codes in published]
    Y, _ = icbeb_labels(pd.DataFrame({"scp_codes": [{"STE_": 100, "1AVB": 100}, {"VPC": 100}]}))
    np.testing.assert_array_equal(Y, [[1, 0, 0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0, 0, 1]])
    with pytest.raises(UserError, match="PVC"):
        icbeb_labels(pd.DataFrame({"scp_codes": [{"PVC": 100}]}))


def test_the_cinc_writer_here_reproduces_physionets_files_byte_for_byte(tmp_path):
    header = (CINC / "A1986.hea").read_text().splitlines()
    age, sex, dx = (line.split(": ")[1] for line in header[13:16])
    write_cinc_record(tmp_path, "A1986", loadmat(CINC / "A1986.mat")["val"], dx, age, sex)
    for suffix in (".hea", ".mat"):
        assert (tmp_path / f"A1986{suffix}").read_bytes() == (CINC / f"A1986{suffix}").read_bytes()


def test_physionets_layout_converts_to_the_published_ids_folds_labels_and_val_over_1000(tmp_path):
    src = physionet_files(tmp_path / "physionet")
    dst = convert(src, tmp_path / "ICBEB", workers=1, progress=False)
    split = load_split().set_index("filename")
    database = pd.read_csv(dst / "icbeb_database.csv", index_col=0)
    names = sorted([*RECORDS, *MORE_RECORDS], key=lambda name: split.loc[name, "ecg_id"])
    assert database["filename"].tolist() == names
    for column in ("ecg_id", "strat_fold", "scp_codes"):
        assert database[column].tolist() == split.loc[names, column].tolist(), column
    assert list(database.index) == (database["ecg_id"] - 1).tolist()
    published = pd.read_csv(SAMPLE / "icbeb_database.csv", index_col=0)  # the ten: every column the benchmark's
    pd.testing.assert_frame_equal(database.loc[published.index], published)
    assert np.isnan(database.set_index("filename").loc["A1549", "age"])
    for name in names:
        ecg_id, val = split.loc[name, "ecg_id"], cinc_val(src, name)
        at_500 = wfdb.rdrecord(str(dst / "records500" / str(ecg_id)))
        np.testing.assert_array_equal(at_500.p_signal, val.T / 1000)  # exactly: PhysioNet's gain kept
        at_100 = wfdb.rdrecord(str(dst / "records100" / str(ecg_id)))
        zoomed = np.stack([zoom(lead, 0.2) for lead in val / 1000], axis=1)
        assert at_100.sig_len == round(val.shape[1] / 5) and at_100.sig_name == LEADS and at_100.fs == 100
        assert np.all(np.abs(at_100.p_signal - zoomed) <= 1 / np.array(at_100.adc_gain)), name
    for name in RECORDS:  # PhysioNet's samples are the challenge's rounded to 1 uV
        assert np.abs(cinc_val(src, name) / 1000 - mat_data(name)).max() <= 0.0005 + 1e-12


@pytest.mark.parametrize("old,new,message", [
    ("1000/mV", "200/mV", r"gains \[200.0\]"),
    ("#Sex: Female", "#Sex: Unknown", "sex 'Unknown'"),
    ("9500 12-May-2020", "9501 12-May-2020", r"val int16 \(12, 9500\)"),
])
def test_a_record_unlike_physionets_is_named_and_nothing_looks_complete(tmp_path, old, new, message):
    src, dst = physionet_files(tmp_path / "physionet"), tmp_path / "ICBEB"
    damage_header(src, "A1984", old, new)  # ecg_id 47: the first to convert
    with pytest.raises(UserError, match=rf"A1984\.hea is not a CPSC 2018 record as PhysioNet distributes it .*{message}"):
        convert(src, dst, workers=1, progress=False)
    assert not (dst / "icbeb_database.csv").exists()


def test_shipped_split_is_the_published_table():
    split = load_split()
    full = pd.read_csv(SAMPLE / "icbeb_database_full.csv", index_col=0)
    assert list(split.columns) == ["filename", "ecg_id", "strat_fold", "scp_codes"]
    pd.testing.assert_frame_equal(split, full[list(split.columns)].reset_index(drop=True), check_dtype=False)
    assert icbeb.SPLIT.read_text().startswith("#") and "GPL-3.0" in icbeb.SPLIT.read_text().split("filename,")[0]


# get_icbeb.sh, offline: archives served from a local folder (file://) or a refused port

def run_script(tmp_path, url, source="challenge"):
    env = dict(os.environ, ICBEB_SOURCE=source, ICBEB_URL=url, ICBEB_DIR=str(tmp_path / "data" / "ICBEB"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def last_line(result):
    return result.stderr.strip().splitlines()[-1]


def serve_challenge(folder, names, mat=lambda name: b""):
    """TrainingSet1-3.zip holding `names` (a third each) and a REFERENCE.csv that agrees with the split."""
    folder.mkdir(parents=True, exist_ok=True)
    for part, chunk in enumerate(np.array_split(np.array(names), 3), start=1):
        with zipfile.ZipFile(folder / f"TrainingSet{part}.zip", "w") as archive:
            for name in chunk:
                archive.writestr(f"TrainingSet{part}/{name}.mat", mat(name))
            archive.writestr(f"__MACOSX/TrainingSet{part}/._{chunk[0]}.mat", b"")  # never counts as a record
    number = {code: str(number) for number, code in icbeb.CHALLENGE_CODES.items()}
    rows = "".join(f"{name},{','.join(([number[code] for code in ast.literal_eval(labels)] + ['', ''])[:3])}\r\n"
                   for name, labels in load_split()[["filename", "scp_codes"]].itertuples(index=False))
    (folder / "REFERENCE.csv").write_bytes(f"Recording,First_label,Second_label,Third_label\r\n{rows}".encode())
    return f"file://{folder}"


def test_script_refused_url_ends_with_one_clear_line(tmp_path):
    result = run_script(tmp_path, "http://127.0.0.1:9")
    assert result.returncode != 0
    assert last_line(result).startswith("get_icbeb.sh: download of TrainingSet1.zip from http://127.0.0.1:9/TrainingSet1.zip failed")
    assert "re-run ./get_icbeb.sh to resume it" in last_line(result)
    assert not (tmp_path / "data" / "ICBEB").exists()


def test_script_does_nothing_on_a_complete_target(tmp_path):
    target = tmp_path / "data" / "ICBEB"
    target.mkdir(parents=True)
    (target / "icbeb_database.csv").write_text("complete\n")
    result = run_script(tmp_path, "http://127.0.0.1:9")  # would fail if it tried to download
    assert result.returncode == 0, result.stderr
    assert "already converted" in result.stdout
    assert sorted(os.listdir(tmp_path / "data")) == ["ICBEB"]


def test_script_names_missing_records(tmp_path):
    url = serve_challenge(tmp_path / "www", sorted(RECORDS), mat=lambda name: (SAMPLE / f"{name}.mat").read_bytes())
    result = run_script(tmp_path, url)
    assert result.returncode != 0
    assert last_line(result).startswith("get_icbeb.sh: 6867 of the 6877 records are not in the archives (e.g. A0001 A0002")
    assert not (tmp_path / "data" / "ICBEB").exists()
    assert sorted(os.listdir(tmp_path / "data" / "ICBEB.download")) == ["REFERENCE.csv", "TrainingSet1.zip",
                                                                     "TrainingSet2.zip", "TrainingSet3.zip"]


def test_script_resumes_a_download_and_removes_a_damaged_archive(tmp_path):
    url = serve_challenge(tmp_path / "www", sorted(load_split()["filename"]))
    downloads = tmp_path / "data" / "ICBEB.download"
    downloads.mkdir(parents=True)
    (downloads / "TrainingSet2.zip.part").write_bytes(b"\0" * 100)  # a resumed download keeps these bytes
    result = run_script(tmp_path, url)
    assert result.returncode != 0
    assert last_line(result) == (f"get_icbeb.sh: {downloads}/TrainingSet2.zip is not an intact zip archive (removed it); "
                                 "re-run ./get_icbeb.sh to download it again.")
    assert sorted(os.listdir(downloads)) == ["REFERENCE.csv", "TrainingSet1.zip", "TrainingSet3.zip"]


def test_script_leaves_a_damaged_archive_put_there_by_hand(tmp_path):
    url = serve_challenge(tmp_path / "www", sorted(load_split()["filename"]))
    downloads = tmp_path / "data" / "ICBEB.download"
    downloads.mkdir(parents=True)
    (downloads / "TrainingSet1.zip").write_bytes(b"the user's own bytes")
    result = run_script(tmp_path, url)
    assert result.returncode != 0
    assert last_line(result) == (f"get_icbeb.sh: {downloads}/TrainingSet1.zip, which was there before, is not an intact "
                                 "zip archive (left as it is); move it away and re-run ./get_icbeb.sh to download it.")
    assert (downloads / "TrainingSet1.zip").read_bytes() == b"the user's own bytes"


def test_script_moves_only_a_complete_conversion_into_place(tmp_path):
    url = serve_challenge(tmp_path / "www", sorted(load_split()["filename"]))  # empty .mat files
    target = tmp_path / "data" / "ICBEB"

    failed = run_script(tmp_path, url)
    assert failed.returncode != 0
    assert "A0416.mat is not a readable challenge record" in failed.stderr  # the converter's message (ecg_id 1)
    assert last_line(failed).startswith("get_icbeb.sh: the conversion failed (the message above says why)")
    assert not target.exists() and (tmp_path / "data" / "ICBEB.partial").is_dir()
    assert not any(name.startswith(".icbeb-unpacking") for name in os.listdir(tmp_path / "data"))

    (tmp_path / "data" / "ICBEB.partial" / "icbeb_database.csv").write_text("complete\n")  # as if it had finished
    done = run_script(tmp_path, url)
    assert done.returncode == 0, done.stderr
    assert (target / "icbeb_database.csv").read_text() == "complete\n"
    assert sorted(os.listdir(tmp_path / "data")) == ["ICBEB", "ICBEB.download"]  # raw files kept for a rerun
    again = run_script(tmp_path, "http://127.0.0.1:9")
    assert again.returncode == 0 and "nothing to do" in again.stdout


# get_icbeb.sh from PhysioNet (the default), offline: a release served from a local folder (file://)

SNOMED = {code: snomed for snomed, code in icbeb.SNOMED_CODES.items()}


def release_path(name, suffix):
    """Where PhysioNet keeps a CPSC 2018 file: A0001..A1000 in g1, A1001..A2000 in g2, and so on."""
    return f"training/cpsc_2018/g{(int(name[1:]) - 1) // 1000 + 1}/{name}{suffix}"


def release_files(names):
    """{path: bytes} of a CinC release: the records `names` under training/cpsc_2018/g*/ (headers carrying just
    the published labels on #Dx, the same few bytes in every .mat), another source's record, a RECORDS file."""
    labels = load_split().set_index("filename")["scp_codes"].map(ast.literal_eval)
    files = {"training/georgia/g1/E00001.hea": b"not CPSC 2018", "training/cpsc_2018/g1/RECORDS": b"A0001\n"}
    for name in names:
        files[release_path(name, ".hea")] = f"#Dx: {','.join(SNOMED[code] for code in labels[name])}\n".encode()
        files[release_path(name, ".mat")] = b"not a record"
    return files


def write_files(folder, files):
    """`files` under `folder`, each content written once and linked wherever it recurs (a link costs a
    seventh of a write here, which matters for 13,754 files)."""
    first = {}
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        if data in first:
            os.link(first[data], folder / path)
        else:
            (folder / path).write_bytes(data)
            first[data] = folder / path


def serve_release(folder, files, listed=None):
    """`files` in `folder` and the SHA256SUMS.txt of `listed` (default: `files`) as PhysioNet writes it (one
    space); a file:// URL to it."""
    write_files(folder, files)
    (folder / "SHA256SUMS.txt").write_text("".join(f"{hashlib.sha256(data).hexdigest()} {path}\n"
                                                   for path, data in sorted((listed or files).items())))
    return f"file://{folder}"


def test_script_from_physionet_refuses_a_release_without_cpsc_2018_in_one_line(tmp_path):
    result = run_script(tmp_path, serve_release(tmp_path / "www", release_files(sorted(RECORDS))), source="physionet")
    assert result.returncode != 0
    assert last_line(result).startswith("get_icbeb.sh: 6867 of the 6877 records have no .hea and .mat under "
                                        "training/cpsc_2018/ in file://")
    assert "ICBEB_SOURCE=challenge" in last_line(result)
    assert os.listdir(tmp_path / "data") == ["ICBEB.download"] and not list((tmp_path / "data").rglob("*.mat"))
    mine = tmp_path / "data" / "ICBEB.download" / "SHA256SUMS.txt"  # a file of yours where the list goes: kept
    mine.write_text("my own checksums\n")
    kept = run_script(tmp_path, f"file://{tmp_path / 'www'}", source="physionet")
    assert "which was there before" in last_line(kept) and mine.read_text() == "my own checksums\n"


def test_script_from_physionet_checks_every_file_resumes_and_hands_the_records_to_the_converter(tmp_path):
    """A release whose CPSC 2018 files are in the download folder already (placed by hand), all but a few (the
    server holds only those): one of them was broken off (resumed), one is changed on the server (refused,
    then downloaded again). Writing 13,754 files takes seconds here: they are written once, mostly as links."""
    www, downloads = tmp_path / "www", tmp_path / "data" / "ICBEB.download"
    files = release_files(sorted(load_split()["filename"]))
    resumed, changed = release_path("A0002", ".mat"), release_path("A0005", ".mat")
    served = {path: data for path, data in files.items() if "A000" in path or "/A" not in path}  # A0001..A0009, others
    by_hand = {path: data for path, data in files.items() if path not in served}
    part = b"XY"  # the broken download's first bytes differ from the server's: only a resumed download matches
    url = serve_release(www, {**served, changed: b"changed on the server"},
                        listed={**files, resumed: part + files[resumed][2:]})
    write_files(downloads, {**by_hand, f".downloading/{resumed}": part})
    placed = {path: (downloads / path).stat().st_mtime_ns for path in list(by_hand)[::500]}

    damaged = run_script(tmp_path, url, source="physionet")
    assert last_line(damaged) == ("get_icbeb.sh: 1 downloaded files do not match the release's SHA256SUMS.txt (e.g. "
                                  f"{changed}; removed them); re-run ./get_icbeb.sh to download them again.")
    assert "Downloading 18 of the 13754 files of CPSC 2018" in damaged.stdout  # A0001..A0009
    assert (downloads / resumed).read_bytes() == part + files[resumed][2:]
    assert {path: (downloads / path).stat().st_mtime_ns for path in placed} == placed  # used as they were
    got = {str(path.relative_to(downloads)) for path in downloads.rglob("*") if path.is_file()}
    assert got == {*files, "SHA256SUMS.txt", "cpsc_2018.SHA256SUMS.txt"} - {  # CPSC 2018's records only
        "training/georgia/g1/E00001.hea", "training/cpsc_2018/g1/RECORDS", changed}

    write_files(www, {changed: files[changed]})
    converted = run_script(tmp_path, url, source="physionet")
    assert "Downloading 1 of the 13754 files of CPSC 2018" in converted.stdout
    # every record reached the converter in PhysioNet's layout: the #Dx lines agree with the published
    # table, the first record to convert (ecg_id 1) is not a real one
    assert "A0416.hea or A0416.mat is not a readable PhysioNet record" in converted.stderr
    assert last_line(converted).startswith("get_icbeb.sh: the conversion failed (the message above says why)")
    assert not (tmp_path / "data" / "ICBEB").exists() and (tmp_path / "data" / "ICBEB.partial").is_dir()
    assert not (downloads / ".downloading").exists()


def test_the_converter_writes_only_into_its_own_folder_and_misses_no_record(tmp_path, capsys):
    from code_used_upload.data.icbeb import main as convert_main

    src = physionet_files(tmp_path / "physionet")
    mine = tmp_path / "mine"
    (mine / "records500").mkdir(parents=True)
    (mine / "records500" / "47.hea").write_text("my record")  # a folder of yours: its file would be replaced
    with pytest.raises(SystemExit) as stopped:
        convert_main([str(src), str(mine)])
    assert stopped.value.code == 2 and "holds files this conversion did not write (records500)" in capsys.readouterr().err
    assert (mine / "records500" / "47.hea").read_text() == "my record"
    name = sorted(RECORDS)[0]
    next(src.rglob(f"{name}.hea")).unlink()  # its .mat stays: the record was left out without a word
    with pytest.raises(UserError, match=f"records {name} under .* have a .mat but no header"):
        convert(src, tmp_path / "ICBEB", workers=1, progress=False)
    assert not (tmp_path / "ICBEB").exists()
