#!/usr/bin/env bash
# Download ICBEB 2018 (the China Physiological Signal Challenge 2018, CPSC 2018, the PTB-XL benchmark's
# second dataset) and convert it into the benchmark's layout in data/ICBEB/ (or $ICBEB_DIR).
#
#   ./get_icbeb.sh                          CPSC 2018 from PhysioNet (the challenge's own hosts no longer answer)
#   ICBEB_SOURCE=challenge ./get_icbeb.sh   the challenge's own archives, from the hosts the benchmark used
#   ICBEB_URL=... ICBEB_DIR=... ./get_icbeb.sh
#
# ICBEB_SOURCE=physionet (the default): the 6,877 records of training/cpsc_2018/g1 ... g7/ of the
# PhysioNet/Computing in Cardiology Challenge 2021 release 1.0.3 (WFDB headers with the labels as SNOMED CT
# codes, MATLAB v4 signals; CC BY 4.0), and nothing else of the release. Its SHA256SUMS.txt is downloaded
# first; the records' files are then downloaded several at a time, each resumed if broken and moved into
# place only when its checksum matches, and every run checks again the files already there. ICBEB_URL is
# the release's base URL (a mirror, or file:///a/folder holding SHA256SUMS.txt and training/; the 2020
# release, 1.0.2, has the same layout and records).
# ICBEB_SOURCE=challenge: TrainingSet1.zip, TrainingSet2.zip, TrainingSet3.zip and REFERENCE.csv from the
# benchmark's hosts, or from ICBEB_URL (a mirror, or file:///a/folder); each archive is tested.
#
# Either way the files are kept in $ICBEB_DIR.download/, where a broken download resumes on the next run
# and files placed by hand are used as they are (PhysioNet's: if their checksums match). All 6,877 records
# must be present, and the conversion (python -m code_used_upload.data.icbeb) writes into
# $ICBEB_DIR.partial/, which a rerun continues; only a complete conversion is moved to the target, so the
# target never looks complete when it is not. On a complete target it does nothing.
set -euo pipefail

REPO="$(cd "$(dirname "$0")" && pwd)"
SOURCE="${ICBEB_SOURCE:-physionet}"
TARGET="${ICBEB_DIR:-$REPO/data/ICBEB}"
TARGET="${TARGET%/}"
case "$TARGET" in /*) ;; *) TARGET="$PWD/$TARGET" ;; esac
DOWNLOADS="$TARGET.download" # the raw files, kept so that a rerun does not download them again
CONVERTING="$TARGET.partial" # the conversion in progress, continued by a rerun
SPLIT="$REPO/code_used_upload/data/icbeb_split.csv" # the benchmark's 6,877 records
# PhysioNet: the CinC Challenge 2021 release, its CPSC 2018 part, and the transfers run at once (PhysioNet
# serves one connection slowly)
PHYSIONET_URL="https://physionet.org/files/challenge-2021/1.0.3"
CPSC_FILES='training/cpsc_2018/g[0-9]+/A[0-9]{4}\.(hea|mat)'
TRANSFERS=16
# the challenge's own archives
ARCHIVES=(TrainingSet1.zip TrainingSet2.zip TrainingSet3.zip)

fail() { echo "get_icbeb.sh: $*" >&2; exit 1; }

case "$SOURCE" in
  physionet) MIRROR_HINT="set ICBEB_URL to a copy of PhysioNet's challenge-2021 release, or ICBEB_SOURCE=challenge for the challenge's own archives" ;;
  challenge) MIRROR_HINT="set ICBEB_URL to a mirror of the challenge's files" ;;
  *) echo "ICBEB_SOURCE=$SOURCE: use physionet (the default: PhysioNet's copy of CPSC 2018) or challenge (the challenge's own archives)." >&2; exit 2 ;;
esac

if [ -f "$TARGET/icbeb_database.csv" ]; then
  echo "ICBEB 2018 is already converted in $TARGET (its icbeb_database.csv is written last); nothing to do."
  exit 0
fi
[ -e "$TARGET" ] && fail "$TARGET exists but holds no icbeb_database.csv, so it is not a converted ICBEB 2018; move it away and re-run ./get_icbeb.sh."

command -v curl > /dev/null || fail "needs 'curl', which is not installed (install it with your package manager, e.g. apt-get install curl)."
[ "$SOURCE" = challenge ] || command -v sha256sum > /dev/null \
  || fail "needs 'sha256sum', which is not installed (install it with your package manager, e.g. apt-get install coreutils)."
PYTHON="$(command -v python || command -v python3 || true)"
[ -n "$PYTHON" ] || fail "needs python with the project's requirements to convert the records; install them (pip install -r requirements.txt) and re-run."
# installed, not imported: importing them takes a second, which every run would wait for
"$PYTHON" -c "import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, sys.argv[1:])))" numpy pandas scipy tqdm wfdb 2> /dev/null \
  || fail "$PYTHON lacks the project's requirements (numpy, pandas, scipy, tqdm, wfdb); run pip install -r requirements.txt (in the project's virtual environment) and re-run."

# download NAME FROM: into $DOWNLOADS/NAME, resuming $DOWNLOADS/NAME.part; nothing to do if it is there
# (FETCHED says whether this call fetched it: only a file this script fetched is ever removed)
download() {
  local file="$DOWNLOADS/$1" status=0
  FETCHED=""
  [ -f "$file" ] && return 0
  echo "Downloading $1 from $2"
  curl -fL --retry 3 -C - -o "$file.part" "$2" || status=$?
  if [ "$status" -eq 33 ]; then # the server cannot resume: start again from the beginning
    rm -f "$file.part"
    status=0
    curl -fL --retry 3 -o "$file.part" "$2" || status=$?
  fi
  [ "$status" -eq 0 ] || fail "download of $1 from $2 failed (curl exit $status); re-run ./get_icbeb.sh to resume it, or $MIRROR_HINT, or put $1 into $DOWNLOADS yourself."
  mv "$file.part" "$file"
  FETCHED=1
}

# every record of the benchmark's table, one name a line, sorted
expected_records() { grep -v '^#' "$SPLIT" | tail -n +2 | cut -d, -f1 | sort; }

# names: the record names of the file paths read, sorted, once each
names() { sed -e 's|.*/||' -e 's/\.[a-z]*$//' | sort -u; }

# unchecked SUMS: "missing PATH" or "mismatch PATH" for each file of the checksum list SUMS (relative to
# $DOWNLOADS) that is not in $DOWNLOADS or whose checksum differs
unchecked() {
  (cd "$DOWNLOADS" && LC_ALL=C sha256sum -c "$1" 2> /dev/null || true) \
    | sed -n -e 's/^\(.*\): FAILED open or read$/missing \1/p' -e 's/^\(.*\): FAILED$/mismatch \1/p'
}

# examples: the first five lines read, on one line
examples() { head -n 5 | paste -sd ' ' -; }

# PhysioNet: the CPSC 2018 part of the release into $DOWNLOADS/training/cpsc_2018/, every file checked
download_physionet() {
  local base="${ICBEB_URL:-$PHYSIONET_URL}" sums="$DOWNLOADS/cpsc_2018.SHA256SUMS.txt" todo="$DOWNLOADS/.todo.SHA256SUMS.txt"
  local staging="$DOWNLOADS/.downloading" # files being downloaded, resumed by a rerun
  local missing count problems status=0
  base="${base%/}"
  download SHA256SUMS.txt "$base/SHA256SUMS.txt"
  grep -E "^[0-9a-f]{64} [ *]?$CPSC_FILES\$" "$DOWNLOADS/SHA256SUMS.txt" > "$sums" || true # PhysioNet writes one space
  missing="$(comm -23 <(expected_records) <(comm -12 <(grep '\.hea$' "$sums" | names) <(grep '\.mat$' "$sums" | names)))"
  if [ -n "$missing" ]; then
    rm -f "$sums"
    [ -n "$FETCHED" ] || fail "$DOWNLOADS/SHA256SUMS.txt, which was there before, lists no .hea and .mat under training/cpsc_2018/ for $(wc -l <<< "$missing" | tr -d ' ') of the 6877 records (e.g. $(examples <<< "$missing")), so it is not the CinC Challenge 2021 (or 2020) release's; move it away (it was left as it is) and re-run ./get_icbeb.sh."
    rm -f "$DOWNLOADS/SHA256SUMS.txt"
    fail "$(wc -l <<< "$missing" | tr -d ' ') of the 6877 records have no .hea and .mat under training/cpsc_2018/ in $base/SHA256SUMS.txt (e.g. $(examples <<< "$missing")), so it is not the CinC Challenge 2021 (or 2020) release (removed it); $MIRROR_HINT, and re-run ./get_icbeb.sh."
  fi
  count="$(wc -l < "$sums" | tr -d ' ')"

  echo "Checking the files of CPSC 2018 already in $DOWNLOADS"
  problems="$(unchecked "$sums")"
  if grep -q '^mismatch ' <<< "$problems"; then # not echo | grep -q: under pipefail, echo's SIGPIPE would fail the test
    fail "files in $DOWNLOADS do not match the release's SHA256SUMS.txt: $(sed -n 's/^mismatch //p' <<< "$problems" | examples) ($(grep -c '^mismatch ' <<< "$problems") in all); delete them and re-run ./get_icbeb.sh to download them again."
  fi
  grep -F -f <(sed -n 's/^missing //p' <<< "$problems") "$sums" > "$todo" || true
  [ -s "$todo" ] || return 0

  echo "Downloading $(wc -l < "$todo" | tr -d ' ') of the $count files of CPSC 2018 from $base ($TRANSFERS at a time; an interrupted download resumes)"
  local parallel=()
  case "$(curl --help all 2> /dev/null)" in *--parallel-max*) parallel=(--parallel --parallel-max "$TRANSFERS") ;; esac
  # curl's config: a url and an output per file, quoted, with \ and " escaped
  BASE="$base" DIR="$staging" awk 'function quoted(text) { gsub(/[\\"]/, "\\\\&", text); return "\"" text "\"" }
    { path = $NF; sub(/^\*/, "", path)
      print "url = " quoted(ENVIRON["BASE"] "/" path); print "output = " quoted(ENVIRON["DIR"] "/" path) }' "$todo" \
    | curl -fL --retry 3 --create-dirs -C - ${parallel[@]+"${parallel[@]}"} -K - || status=$?

  # a staged file whose checksum matches is whole: moved into place, a folder at a time (one mv per file would
  # take a minute for the 13,754)
  local whole dir
  whole="$(cd "$staging" && LC_ALL=C sha256sum -c "$todo" 2> /dev/null | sed -n 's/: OK$//p' || true)"
  for dir in $(sed 's|/[^/]*$||' <<< "$whole" | sort -u); do
    mkdir -p "$DOWNLOADS/$dir"
    sed -n "s|^$dir/||p" <<< "$whole" | (cd "$staging/$dir" && xargs sh -c 'mv -- "$@" "$0"' "$DOWNLOADS/$dir")
  done
  problems="$(unchecked "$todo")"
  rm -f "$todo"
  if [ -z "$problems" ]; then
    rm -rf "$staging"
    return 0
  fi
  # after a download that curl finished, a staged file that does not match is damaged: removed, to be
  # downloaded afresh by the next run (after an interrupted one, it is resumed)
  local damaged=""
  if [ "$status" -eq 0 ]; then
    damaged="$(sed -n 's/^missing //p' <<< "$problems" | while read -r path; do
      [ -f "$staging/$path" ] && rm -f "$staging/$path" && echo "$path"; done)"
  fi
  [ -z "$damaged" ] || fail "$(wc -l <<< "$damaged" | tr -d ' ') downloaded files do not match the release's SHA256SUMS.txt (e.g. $(examples <<< "$damaged"); removed them); re-run ./get_icbeb.sh to download them again."
  fail "$(wc -l <<< "$problems" | tr -d ' ') of the $count files of CPSC 2018 could not be downloaded from $base (e.g. $(sed 's/^missing //' <<< "$problems" | examples); curl exit $status); re-run ./get_icbeb.sh to resume, or $MIRROR_HINT."
}

# the challenge's archives: downloaded, tested, unpacked into $UNPACKED with REFERENCE.csv, every record there
download_challenge() {
  local name missing fetched=" " # the archives this run downloaded: only those are ever removed
  if command -v unzip > /dev/null; then
    test_zip() { unzip -tqq "$1" > /dev/null 2>&1; }
    unpack() { unzip -qo "$1" -d "$2"; }
  else
    test_zip() { "$PYTHON" -c 'import sys, zipfile; sys.exit(zipfile.ZipFile(sys.argv[1]).testzip() is not None)' "$1" > /dev/null 2>&1; }
    unpack() { "$PYTHON" -m zipfile -e "$1" "$2"; }
  fi
  for name in "${ARCHIVES[@]}" REFERENCE.csv; do
    if [ -n "${ICBEB_URL:-}" ]; then
      download "$name" "${ICBEB_URL%/}/$name"
    elif [ "$name" = REFERENCE.csv ]; then # the benchmark's get_datasets.sh uses two hosts
      download "$name" "http://2018.icbeb.org/file/REFERENCE.csv"
    else
      download "$name" "http://hhbucket.oss-cn-hongkong.aliyuncs.com/$name"
    fi
    [ -z "$FETCHED" ] || fetched+="$name "
  done
  for name in "${ARCHIVES[@]}"; do
    echo "Testing $name"
    test_zip "$DOWNLOADS/$name" && continue
    case "$fetched" in
      *" $name "*) rm -f "$DOWNLOADS/$name"
        fail "$DOWNLOADS/$name is not an intact zip archive (removed it); re-run ./get_icbeb.sh to download it again." ;;
      *) fail "$DOWNLOADS/$name, which was there before, is not an intact zip archive (left as it is); move it away and re-run ./get_icbeb.sh to download it." ;;
    esac
  done
  for name in "${ARCHIVES[@]}"; do
    echo "Unpacking $name"
    unpack "$DOWNLOADS/$name" "$UNPACKED" || fail "could not unpack $DOWNLOADS/$name; delete it and re-run ./get_icbeb.sh to download it again."
  done
  cp "$DOWNLOADS/REFERENCE.csv" "$UNPACKED/REFERENCE.csv"
  # every record of the benchmark's table must be in the archives (macOS's __MACOSX/ copies do not count)
  missing="$(comm -23 <(expected_records) \
    <(find "$UNPACKED" -name '*.mat' ! -name '.*' ! -path '*/__MACOSX/*' | sed -e 's|.*/||' -e 's/\.mat$//' | sort -u))"
  if [ -n "$missing" ]; then
    fail "$(wc -l <<< "$missing" | tr -d ' ') of the 6877 records are not in the archives (e.g. $(examples <<< "$missing")); the files in $DOWNLOADS are not the challenge's training set: delete them and re-run ./get_icbeb.sh (with ICBEB_URL set to another mirror if this one served them)."
  fi
}

mkdir -p "$DOWNLOADS"
if [ "$SOURCE" = physionet ]; then
  download_physionet
  RECORDS="$DOWNLOADS/training/cpsc_2018"
else
  UNPACKED="$(mktemp -d "$(dirname "$TARGET")/.icbeb-unpacking.XXXXXX")"
  trap 'rm -rf "$UNPACKED"' EXIT
  download_challenge
  RECORDS="$UNPACKED"
fi

echo "Converting into the benchmark's layout (records500/, records100/, icbeb_database.csv)"
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m code_used_upload.data.icbeb "$RECORDS" "$CONVERTING" \
  || fail "the conversion failed (the message above says why); fix that and re-run ./get_icbeb.sh, which keeps the records converted so far in $CONVERTING."
[ -f "$CONVERTING/icbeb_database.csv" ] || fail "the conversion ended without writing $CONVERTING/icbeb_database.csv; re-run ./get_icbeb.sh."
mv "$CONVERTING" "$TARGET"
echo "ICBEB 2018 is in $TARGET (6877 records at 500 Hz and 100 Hz). The raw files stay in $DOWNLOADS; delete that folder if you do not need them."
