"""ICBEB 2018 (CPSC 2018) in the PTB-XL benchmark's layout, converted from the challenge's own files or
from PhysioNet's copy of them.

The benchmark (helme/ecg_ptbxl_benchmarking, `code/utils/convert_ICBEB.py`) turns each challenge
`.mat` into WFDB records at 500 Hz and 100 Hz and writes `icbeb_database.csv`. It numbers the
records in the order the directory listing gives them and stratifies the folds in that order, so a
fresh run of it can number and split them differently from its published results. Here `ecg_id`
and `strat_fold` come from the published table instead (`icbeb_split.csv`, shipped beside this
file), the labels from the challenge's `REFERENCE.csv`, checked against that table, and the signals
are written as the benchmark writes them.

The challenge's hosts no longer answer; PhysioNet distributes the same 6,877 records in the
PhysioNet/CinC Challenge 2020 and 2021 releases (`training/cpsc_2018/g1` ... `g7/`): a WFDB header
(`#Age:`, `#Sex:`, the labels as SNOMED CT codes on `#Dx:`) beside a MATLAB v4 `.mat` holding `val`,
12 x N integers at 1000 per mV, the challenge's samples rounded to 1 uV. Where SRC holds such headers,
they are the records: the labels come from `#Dx` (SNOMED_CODES), are checked against the published
table in the same way, and the signals are `val / 1000` mV; the 500 Hz records keep PhysioNet's gain of
1000 per mV, so they read back exactly as `val / 1000` (the benchmark's writer, which picks each lead's
gain from its range, would quantise the samples a second time).

`load_icbeb_records` then reads a converted folder's records at one rate, each of its own length, into
a signal cache of their own (data/records.py: all samples in one flat array and the records' offsets),
with PTB-XL's reader and cache (data/ptbxl.py).

A full conversion (6,877 records) runs over worker processes. Each record is written in a work
folder and renamed into place, and `icbeb_database.csv` is written last, atomically, as the mark of
a complete conversion: an interrupted run leaves nothing that looks complete, a rerun keeps the
records already in place, and a run on a complete folder does nothing.

    python -m code_used_upload.data.icbeb SRC DST    (./get_icbeb.sh downloads SRC and calls this)
"""

import argparse
import ast
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb
from scipy.io import loadmat
from scipy.ndimage import zoom
from tqdm import tqdm

from code_used_upload.data.ptbxl import cache_key, cached_arrays, read_records, record_length
from code_used_upload.data.records import Records
from code_used_upload.errors import UserError
from code_used_upload.files import write_atomically

SPLIT = Path(__file__).with_name("icbeb_split.csv")
STATEMENTS = Path(__file__).with_name("scp_statements.csv")  # PTB-XL's: the benchmark copies it unchanged
DATABASE = "icbeb_database.csv"
WORK = ".converting"  # inside the destination: records being written, renamed into place when whole
CONVERTING_MARK = ".conversion-of-this-toolkit"  # in the destination while a conversion is under way there

CHALLENGE_CODES = {1: "NORM", 2: "AFIB", 3: "1AVB", 4: "CLBBB", 5: "CRBBB", 6: "PAC", 7: "VPC", 8: "STD_", 9: "STE_"}
# PhysioNet's #Dx codes (SNOMED CT) of the nine classes, from the mapping tables of the PhysioNet/CinC Challenge
# 2021 (physionetchallenges/evaluation-2021, dx_mapping_scored.csv and dx_mapping_unscored.csv), whose column
# CPSC counts each class exactly as the published table does (e.g. 700 "ventricular ectopics", the challenge's PVC)
SNOMED_CODES = {
    "426783006": "NORM",   # 1 Normal: sinus rhythm
    "164889003": "AFIB",   # 2 AF: atrial fibrillation
    "270492004": "1AVB",   # 3 I-AVB: 1st degree av block
    "164909002": "CLBBB",  # 4 LBBB: left bundle branch block
    "59118001": "CRBBB",   # 5 RBBB: right bundle branch block
    "284470004": "PAC",    # 6 PAC: premature atrial contraction
    "164884008": "VPC",    # 7 PVC: ventricular ectopics
    "429622005": "STD_",   # 8 STD: st depression
    "164931005": "STE_",   # 9 STE: st elevation
}
PHYSIONET_GAIN = 1000  # PhysioNet's `val` units per mV
CLASSES = sorted(CHALLENGE_CODES.values())  # the task `all`: MultiLabelBinarizer's alphabetical order
LABEL_COLUMNS = ["First_label", "Second_label", "Third_label"]
LEADS = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]
RATES = {500: 1.0, 100: 0.2}  # rate -> zoom factor applied to the challenge's 500 Hz samples
# (dataset, what to do about a bad record): the end of a bad converted record's message
SOURCE = ("ICBEB 2018", "delete the folder and run ./get_icbeb.sh again to convert the challenge's files afresh")
CACHE_STEM = "icbeb_signals_{rate}hz"  # its signal cache's files, beside PTB-XL's in the same cache folder


def _names(records, shown=10):
    """'A0001, A0002, ... (N in all)': a message names a few records, never thousands."""
    records = list(records)
    more = f", ... ({len(records)} in all)" if len(records) > shown else ""
    return ", ".join(map(str, records[:shown])) + more


def load_split():
    """The published table's filename, ecg_id, strat_fold and scp_codes of all 6,877 records."""
    return pd.read_csv(SPLIT, comment="#")


def _find_records(src):
    """record name -> its file anywhere under `src` (hidden files and macOS's __MACOSX/ left out): PhysioNet's
    headers (.hea) where there are any, else the challenge's .mat files."""
    def found(suffix):
        return sorted(path for path in Path(src).rglob(f"*{suffix}")
                      if not any(part.startswith((".", "__MACOSX")) for part in path.relative_to(src).parts))

    headers = found(".hea")
    paths = headers or found(".mat")
    if headers:  # PhysioNet's layout: a .mat without its header would be left out without a word
        named = {path.with_suffix("") for path in headers}
        bare = [path.stem for path in found(".mat") if path.with_suffix("") not in named]
        if bare:
            raise UserError(f"records {_names(bare)} under {src} have a .mat but no header (.hea) beside it: "
                            "download them again (./get_icbeb.sh resumes and checks every file).")
    records = pd.Series(paths, index=[path.stem for path in paths], dtype=object)
    twice = records.index[records.index.duplicated()].unique()
    if len(twice):
        raise UserError(f"records {_names(twice)} each occur more than once under {src} "
                        f"(e.g. {_names(records[twice[0]])}): keep one copy of each and run the conversion again.")
    if records.empty:
        raise UserError(f"{src} holds no .hea or .mat files: download PhysioNet's copy of CPSC 2018 there, or unpack "
                        "the challenge's TrainingSet1-3.zip there (./get_icbeb.sh does it all).")
    return records


def _is_physionet(records):
    return records.iloc[0].suffix == ".hea"


def _challenge_labels(reference_path, records):
    """record -> its labels as the benchmark writes scp_codes ("{'PAC': 100}"), from REFERENCE.csv.

    A row's codes map to the benchmark's codes in the order of the row; a code repeated in a row
    counts once. Every record must have a row of one to three codes from 1 to 9.
    """
    if not reference_path.is_file():
        raise UserError(f"{reference_path} not found: put the challenge's REFERENCE.csv beside the .mat "
                        "folders (./get_icbeb.sh downloads it).")
    reference = pd.read_csv(reference_path, dtype=str)  # labels as written, for the messages
    if not {"Recording", *LABEL_COLUMNS} <= set(reference.columns):
        raise UserError(f"{reference_path} is not the challenge's REFERENCE.csv (needs the columns "
                        f"Recording, {', '.join(LABEL_COLUMNS)}): download it again with ./get_icbeb.sh.")
    reference = reference.drop_duplicates("Recording", keep=False).set_index("Recording")
    unlabelled = records.index.difference(reference.index)
    if len(unlabelled):
        raise UserError(f"records {_names(unlabelled)} have no single row in {reference_path}: "
                        "use the challenge's REFERENCE.csv (./get_icbeb.sh downloads it).")
    written = reference.loc[records.index, LABEL_COLUMNS]
    codes = written.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    given = written.notna().to_numpy()
    bad = (given & ~np.isin(codes, list(CHALLENGE_CODES))).any(axis=1) | ~given.any(axis=1)
    if bad.any():
        rows = [f"{name} ({' '.join(written.loc[name].dropna()) or 'none'})" for name in records.index[bad]]
        raise UserError(f"{reference_path} gives records {_names(rows)} no label or a code outside 1-9, the "
                        "challenge's nine classes: use the challenge's REFERENCE.csv (./get_icbeb.sh downloads it).")
    labels = [{CHALLENGE_CODES[int(code)]: 100 for code in row[~np.isnan(row)]} for row in codes]
    return pd.Series([str(label) for label in labels], index=records.index)


def _records_to_convert(src):
    """The split's rows of the records under `src`, in ecg_id order, with their .mat paths.

    Refuses a .mat the published table lacks, and labels in REFERENCE.csv that differ from the
    table's, since either would make the benchmark's numbers incomparable.
    """
    records = _find_records(src)
    split = load_split().set_index("filename")
    unknown = records.index.difference(split.index)
    if len(unknown):
        where = " (of PhysioNet's release, pass its folder training/cpsc_2018)" if _is_physionet(records) else ""
        raise UserError(f"records {_names(unknown)} under {src} are not in the benchmark's ICBEB 2018 table "
                        f"({SPLIT.name}): remove them{where}; only the challenge's 6,877 training records convert.")
    rows = split.loc[records.index].assign(path=records)
    if _is_physionet(records):
        _check_physionet_labels(records, rows["scp_codes"], src)
    else:
        labels = _challenge_labels(Path(src) / "REFERENCE.csv", records)
        differ = rows.index[labels != rows["scp_codes"]]
        if len(differ):
            pairs = [f"{name} {labels[name]} (published {rows.loc[name, 'scp_codes']})" for name in differ]
            raise UserError(f"REFERENCE.csv in {src} labels records {_names(pairs, 5)} unlike the benchmark's "
                            "published table: use the challenge's REFERENCE.csv (./get_icbeb.sh downloads it).")
    return rows.rename_axis("filename").reset_index().sort_values("ecg_id", ignore_index=True)


def _header_fields(comment_lines):
    """{'Age': '52', 'Sex': 'Male', 'Dx': '284470004', ...} from a CinC header's comment lines ('#' removed)."""
    fields = (line.split(":", 1) for line in comment_lines if ":" in line)
    return {key.strip(): value.strip() for key, value in fields}


def _check_physionet_labels(records, published, src):
    """Refuse headers without a .mat beside them, #Dx codes outside the nine classes and labels that differ from
    the published table's (as sets: #Dx need not list them in the table's order), naming the records.

    Only the `#` lines of each header are read here, as text, so that every record is checked before anything
    is written without reading 6,877 headers with wfdb (3.5 ms each)."""
    no_signal = [name for name, path in records.items() if not path.with_suffix(".mat").is_file()]
    if no_signal:
        raise UserError(f"records {_names(no_signal)} under {src} have a header but no .mat beside it: download "
                        "them again (./get_icbeb.sh resumes and checks every file).")
    unknown, differ = [], []
    for name, path in records.items():
        comments = [line[1:] for line in path.read_text(errors="replace").splitlines() if line.startswith("#")]
        codes = [code.strip() for code in _header_fields(comments).get("Dx", "").split(",") if code.strip()]
        if not codes or set(codes) - set(SNOMED_CODES):
            unknown.append(f"{name} ({' '.join(codes) or 'none'})")
            continue
        labels = {SNOMED_CODES[code] for code in codes}
        if labels != set(ast.literal_eval(published[name])):
            differ.append(f"{name} {sorted(labels)} (published {published[name]})")
    if unknown:
        raise UserError(f"the #Dx lines under {src} give records {_names(unknown, 5)} no label or a code outside "
                        f"CPSC 2018's nine classes (SNOMED CT {', '.join(SNOMED_CODES)}): use PhysioNet's files of "
                        "CPSC 2018 (./get_icbeb.sh downloads them).")
    if differ:
        raise UserError(f"the #Dx lines under {src} label records {_names(differ, 5)} unlike the benchmark's published "
                        "table: use PhysioNet's files of CPSC 2018 (./get_icbeb.sh downloads them).")


def _read_mat(path):
    """(sex 1/0, age or NaN, data (12, N) mV) of one challenge .mat (a MATLAB struct `ECG`)."""
    try:
        ecg = loadmat(path, simplify_cells=True)["ECG"]
        sex = str(ecg["sex"])
        age = np.asarray(ecg["age"], dtype=np.float64).ravel()
        data = np.asarray(ecg["data"], dtype=np.float64)
    except Exception as error:  # scipy's many read errors (a truncated file among them): all mean unreadable
        raise UserError(f"{path} is not a readable challenge record ({type(error).__name__}: {error}): "
                        "delete it and unpack the challenge's archive again (./get_icbeb.sh does it).")
    if sex not in ("Male", "Female") or data.ndim != 2 or data.shape[0] != len(LEADS) or data.shape[1] == 0:
        raise UserError(f"{path} is not a challenge record (sex {sex!r}, data of shape {data.shape}, "
                        f"expected 'Male' or 'Female' and {len(LEADS)} leads): unpack the challenge's archive again.")
    return int(sex == "Male"), float(age[0]) if age.size else np.nan, data


def _read_physionet(path):
    """(sex 1/0, age or NaN, data (12, N) mV) of one record in PhysioNet's layout: the header beside its
    MATLAB v4 .mat holding `val` at 1000 per mV (data = val / 1000)."""
    mat = path.with_suffix(".mat")
    try:
        header = wfdb.rdheader(str(path.with_suffix("")))
        val = loadmat(mat)["val"]
    except Exception as error:  # wfdb's and scipy's many read errors (a truncated file among them)
        raise UserError(f"{path} or {mat.name} is not a readable PhysioNet record ({type(error).__name__}: {error}): "
                        "delete both and download them again (./get_icbeb.sh).")
    fields = _header_fields(header.comments)
    names = [name.upper() for name in header.sig_name or []]
    as_expected = (names == LEADS and header.fs == 500 and set(header.adc_gain) == {PHYSIONET_GAIN}
                   and set(header.baseline) == {0} and np.issubdtype(val.dtype, np.integer)
                   and val.shape == (len(LEADS), header.sig_len) and header.sig_len > 0
                   and fields.get("Sex", "").lower() in ("male", "female"))
    if not as_expected:
        raise UserError(f"{path} is not a CPSC 2018 record as PhysioNet distributes it (leads {header.sig_name}, "
                        f"{header.fs} Hz, gains {sorted(set(header.adc_gain))}, baselines {sorted(set(header.baseline))}, "
                        f"sex {fields.get('Sex')!r}, val {val.dtype} {val.shape}; expected {', '.join(LEADS)} at 500 Hz, "
                        f"{PHYSIONET_GAIN} per mV, baseline 0, Male or Female, integers of shape (12, "
                        f"{header.sig_len})): download it again (./get_icbeb.sh).")
    age = pd.to_numeric(fields.get("Age"), errors="coerce")  # NaN where PhysioNet has none (NaN, Unknown)
    return int(fields["Sex"].lower() == "male"), float(age), val / PHYSIONET_GAIN


def _resample(data, factor):
    """(time, 12) at `factor` times 500 Hz: each lead zoomed on its own (cubic spline, SciPy's defaults)."""
    if factor == 1.0:
        return data.T
    return np.stack([zoom(lead, factor) for lead in data], axis=1)


def _convert_record(job):
    """(sex, age) of one record, after writing its WFDB records unless both are already in place."""
    path, ecg_id, dst = job
    physionet = path.suffix == ".hea"
    sex, age, data = _read_physionet(path) if physionet else _read_mat(path)
    name = str(ecg_id)
    if all((dst / f"records{rate}" / f"{name}.hea").is_file() for rate in RATES):
        return sex, age
    work = dst / WORK / name
    for rate, factor in RATES.items():
        (work / f"records{rate}").mkdir(parents=True, exist_ok=True)
        # wfdb picks each lead's gain and baseline, as in the benchmark; PhysioNet's 500 Hz samples keep theirs
        kept = dict(adc_gain=[PHYSIONET_GAIN] * len(LEADS), baseline=[0] * len(LEADS)) if physionet and factor == 1 else {}
        try:
            wfdb.wrsamp(name, fs=rate, units=["mV"] * len(LEADS), sig_name=LEADS, p_signal=_resample(data, factor),
                        fmt=["16"] * len(LEADS), write_dir=str(work / f"records{rate}"), **kept)
        except Exception as error:  # e.g. a lead whose range wfdb's gain cannot fit into 16 bits
            raise UserError(f"wfdb could not write {path} as record {name} at {rate} Hz ({type(error).__name__}: "
                            f"{error}): unpack the challenge's archive again; if the file is intact, wfdb cannot "
                            "store this signal in format 16 (please report it).")
    for rate in RATES:  # each header after its signal file: a header in place means a whole record
        for suffix in (".dat", ".hea"):
            os.replace(work / f"records{rate}" / f"{name}{suffix}", dst / f"records{rate}" / f"{name}{suffix}")
    shutil.rmtree(work)
    return sex, age


def _convert_all(jobs, workers, progress):
    """[(sex, age)] of every job in order, over `workers` processes; the first error cancels the rest."""
    def track(results):
        return list(tqdm(results, total=len(jobs), desc="converting ICBEB 2018", unit="record", disable=not progress))

    if workers <= 1:
        return track(map(_convert_record, jobs))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        try:
            return track(pool.map(_convert_record, jobs, chunksize=max(1, min(32, len(jobs) // (4 * workers)))))
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def is_converted(folder):
    """Whether `folder` holds a complete conversion (its icbeb_database.csv is written last)."""
    return (Path(folder) / DATABASE).is_file()


def convert(src, dst, workers=None, progress=True):
    """Convert the records under `src` into the benchmark's ICBEB layout in `dst`: icbeb_database.csv,
    records500/<ecg_id>, records100/<ecg_id> and scp_statements.csv. Returns `dst`; on a complete `dst` it
    does nothing. `src` holds either PhysioNet's copy (.hea + .mat pairs in any subfolders, e.g.
    training/cpsc_2018/g1/; no REFERENCE.csv needed) or the challenge's files (.mat files in any
    subfolders, REFERENCE.csv at the top); where it has .hea files, they are the records.

    The table has the benchmark's columns: the row number of the published table (ecg_id - 1) as
    the unnamed index, so a conversion of every record numbers its rows 0..6876 as the benchmark's
    does and a partial one keeps the published rows; ecg_id, filename, validation (False), age
    (NaN where the record has none), sex (1 Male, 0 Female), scp_codes, patient_id (= ecg_id),
    quality (0), strat_fold.
    """
    dst = Path(dst)
    if is_converted(dst):
        return dst
    held = sorted(path.name for path in dst.iterdir()) if dst.is_dir() else []
    if held and CONVERTING_MARK not in held:
        raise UserError(f"{dst} holds files this conversion did not write ({', '.join(held[:3])}"
                        f"{', ...' if len(held) > 3 else ''}), which it would replace: give a new or empty folder")
    rows = _records_to_convert(Path(src))
    dst.mkdir(parents=True, exist_ok=True)
    (dst / CONVERTING_MARK).touch()  # this folder is the conversion's: a rerun continues it
    for rate in RATES:
        (dst / f"records{rate}").mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dst / WORK, ignore_errors=True)  # an interrupted run's unfinished records
    jobs = [(path, ecg_id, dst) for path, ecg_id in zip(rows["path"], rows["ecg_id"])]
    sex, age = np.array(_convert_all(jobs, workers or os.cpu_count() or 1, progress), dtype=np.float64).reshape(-1, 2).T
    table = pd.DataFrame({
        "ecg_id": rows["ecg_id"], "filename": rows["filename"], "validation": False, "age": age,
        "sex": sex.astype(int), "scp_codes": rows["scp_codes"], "patient_id": rows["ecg_id"], "quality": 0,
        "strat_fold": rows["strat_fold"],
    }).set_axis(rows["ecg_id"].to_numpy() - 1)
    shutil.rmtree(dst / WORK, ignore_errors=True)  # empty now: every record removed its own
    write_atomically(dst / "scp_statements.csv", lambda file: file.write(STATEMENTS.read_bytes()))
    write_atomically(dst / DATABASE, lambda file: file.write(table.to_csv(lineterminator="\n").encode()))
    (dst / CONVERTING_MARK).unlink()
    return dst


def load_icbeb_database(folder):
    """icbeb_database.csv of a converted ICBEB, indexed by ecg_id, with scp_codes parsed to dicts
    (the benchmark's row-number column dropped: ecg_id is the index)."""
    path = Path(folder) / DATABASE
    if not path.is_file():
        raise UserError(f"{folder} is not a converted ICBEB 2018 ({DATABASE} not found). Run ./get_icbeb.sh "
                        f"to download and convert it, or pass the folder that holds {DATABASE}.")
    database = pd.read_csv(path, index_col=0)
    missing = {"ecg_id", "scp_codes", "strat_fold"} - set(database.columns)
    if missing:
        raise UserError(f"{path} lacks the columns {sorted(missing)}: it is not a converted ICBEB 2018; "
                        "delete the folder and run ./get_icbeb.sh again.")
    database = database.set_index("ecg_id")
    database["scp_codes"] = database["scp_codes"].apply(ast.literal_eval)
    return database


def icbeb_labels(database):
    """(Y, classes): the benchmark's ICBEB task `all`, multi-hot (records, 9) int64 over the nine
    codes in alphabetical order, rows in the database's order, every code kept (no minimum count)."""
    codes = database["scp_codes"]
    unknown = sorted({code for labels in codes for code in labels} - set(CLASSES))
    if unknown:
        raise UserError(f"codes {unknown} in the ICBEB database are not the challenge's nine {CLASSES}: "
                        "convert the data again with ./get_icbeb.sh.")
    rows = np.repeat(np.arange(len(codes)), [len(labels) for labels in codes])
    columns = np.searchsorted(CLASSES, [code for labels in codes for code in labels])
    Y = np.zeros((len(codes), len(CLASSES)), dtype=np.int64)
    Y[rows, columns] = 1
    return Y, list(CLASSES)


def load_icbeb_records(folder, database, sampling_frequency, cache_dir, workers=None, progress=True):
    """Every record of `database` (in its row order) at `sampling_frequency`, each of its own length, as
    Records over the memory maps of their cache in `cache_dir`: `icbeb_signals_<rate>hz.npy` (all samples,
    (total, 12) float32) and `..._offsets.npy`, read once (each record's length from its header first, so
    the samples are read straight into one array) and reused while icbeb_database.csv, the rate and the
    records are unchanged. Values equal `wfdb.rdsamp(...)[0].astype(np.float32)`."""
    if sampling_frequency not in RATES:
        raise UserError(f"sampling frequency {sampling_frequency} Hz: the ICBEB 2018 conversion has records at "
                        f"{' and '.join(map(str, sorted(RATES)))} Hz.")
    filenames = [f"records{sampling_frequency}/{ecg_id}" for ecg_id in database.index]

    def read():
        lengths = [record_length(Path(folder) / name, sampling_frequency, SOURCE) for name in filenames]
        records = read_records(folder, filenames, sampling_frequency, lengths, workers or os.cpu_count() or 1,
                               progress, SOURCE)
        return {"": records.flat, "_offsets": records.offsets}

    arrays = cached_arrays(cache_dir, CACHE_STEM.format(rate=sampling_frequency),
                           cache_key(folder, filenames, sampling_frequency, DATABASE), read, suffixes=("", "_offsets"))
    return Records(arrays[""], np.asarray(arrays["_offsets"]))


def main(argv=None):
    """`python -m code_used_upload.data.icbeb SRC DST`: a UserError ends it with its message, exit 2."""
    parser = argparse.ArgumentParser(description="CPSC 2018's files into the PTB-XL benchmark's ICBEB layout.")
    parser.add_argument("src", help="folder with PhysioNet's .hea + .mat records (any subfolders), or with the "
                                    "challenge's .mat files (any subfolders) and REFERENCE.csv")
    parser.add_argument("dst", help="folder to write icbeb_database.csv, records500/, records100/ into")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: every CPU)")
    args = parser.parse_args(argv)
    if is_converted(args.dst):
        print(f"{args.dst} already holds a complete conversion ({DATABASE}); nothing to do.")
        return
    try:
        convert(args.src, args.dst, workers=args.workers)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"ICBEB 2018 converted into {args.dst}.")


if __name__ == "__main__":
    main()
