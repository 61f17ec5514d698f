#!/usr/bin/env bash
# Download ICBEB 2018 (the China Physiological Signal Challenge 2018, the PTB-XL benchmark's second
# dataset) and convert it into the benchmark's layout in data/ICBEB/ (or $ICBEB_DIR).
#
#   ./get_icbeb.sh                        the challenge's files from the URLs the benchmark uses
#   ICBEB_URL=... ICBEB_DIR=... ./get_icbeb.sh
#
# ICBEB_URL is a base URL (a mirror, or file:///a/folder) holding TrainingSet1.zip, TrainingSet2.zip,
# TrainingSet3.zip and REFERENCE.csv. They are kept in $ICBEB_DIR.download/, where a broken download
# resumes on the next run and files placed by hand are used as they are. Each archive is tested,
# all 6,877 records must be present, and the conversion (python -m code_used_upload.data.icbeb)
# writes into $ICBEB_DIR.partial/, which a rerun continues; only a complete conversion is moved to
# the target, so the target never looks complete when it is not. On a complete target it does nothing.
set -euo pipefail

REPO="$(cd "$(dirname "$0")" && pwd)"
TARGET="${ICBEB_DIR:-$REPO/data/ICBEB}"
TARGET="${TARGET%/}"
case "$TARGET" in /*) ;; *) TARGET="$PWD/$TARGET" ;; esac
DOWNLOADS="$TARGET.download" # the raw files, kept so that a rerun does not download them again
CONVERTING="$TARGET.partial" # the conversion in progress, continued by a rerun
ARCHIVES=(TrainingSet1.zip TrainingSet2.zip TrainingSet3.zip)
SPLIT="$REPO/code_used_upload/data/icbeb_split.csv" # the benchmark's 6,877 records

fail() { echo "get_icbeb.sh: $*" >&2; exit 1; }

# url NAME: where NAME is downloaded from (the benchmark's get_datasets.sh uses two hosts)
url() {
  if [ -n "${ICBEB_URL:-}" ]; then
    echo "${ICBEB_URL%/}/$1"
  elif [ "$1" = REFERENCE.csv ]; then
    echo "http://2018.icbeb.org/file/REFERENCE.csv"
  else
    echo "http://hhbucket.oss-cn-hongkong.aliyuncs.com/$1"
  fi
}

if [ -f "$TARGET/icbeb_database.csv" ]; then
  echo "ICBEB 2018 is already converted in $TARGET (its icbeb_database.csv is written last); nothing to do."
  exit 0
fi
[ -e "$TARGET" ] && fail "$TARGET exists but holds no icbeb_database.csv, so it is not a converted ICBEB 2018; move it away and re-run ./get_icbeb.sh."

command -v curl > /dev/null || fail "needs 'curl', which is not installed (install it with your package manager, e.g. apt-get install curl)."
PYTHON="$(command -v python || command -v python3 || true)"
[ -n "$PYTHON" ] || fail "needs python with the project's requirements to convert the records; install them (pip install -r requirements.txt) and re-run."
"$PYTHON" -c "import numpy, pandas, scipy, tqdm, wfdb" 2> /dev/null \
  || fail "$PYTHON lacks the project's requirements (numpy, pandas, scipy, tqdm, wfdb); run pip install -r requirements.txt (in the project's virtual environment) and re-run."
if command -v unzip > /dev/null; then
  test_zip() { unzip -tqq "$1" > /dev/null 2>&1; }
  unpack() { unzip -qo "$1" -d "$2"; }
else
  test_zip() { "$PYTHON" -c 'import sys, zipfile; sys.exit(zipfile.ZipFile(sys.argv[1]).testzip() is not None)' "$1" > /dev/null 2>&1; }
  unpack() { "$PYTHON" -m zipfile -e "$1" "$2"; }
fi

# download NAME: into $DOWNLOADS/NAME, resuming $DOWNLOADS/NAME.part; nothing to do if it is there
download() {
  local file="$DOWNLOADS/$1" from status=0
  [ -f "$file" ] && return 0
  from="$(url "$1")"
  echo "Downloading $1 from $from"
  curl -fL --retry 3 -C - -o "$file.part" "$from" || status=$?
  if [ "$status" -eq 33 ]; then # the server cannot resume: start again from the beginning
    rm -f "$file.part"
    status=0
    curl -fL --retry 3 -o "$file.part" "$from" || status=$?
  fi
  [ "$status" -eq 0 ] || fail "download of $1 from $from failed (curl exit $status); re-run ./get_icbeb.sh to resume it, or set ICBEB_URL to a mirror of the challenge's files, or put $1 into $DOWNLOADS yourself."
  mv "$file.part" "$file"
}

mkdir -p "$DOWNLOADS"
for name in "${ARCHIVES[@]}" REFERENCE.csv; do download "$name"; done
for name in "${ARCHIVES[@]}"; do
  echo "Testing $name"
  test_zip "$DOWNLOADS/$name" || { rm -f "$DOWNLOADS/$name"; fail "$DOWNLOADS/$name is not an intact zip archive (removed it); re-run ./get_icbeb.sh to download it again."; }
done

UNPACKED="$(mktemp -d "$(dirname "$TARGET")/.icbeb-unpacking.XXXXXX")"
trap 'rm -rf "$UNPACKED"' EXIT
for name in "${ARCHIVES[@]}"; do
  echo "Unpacking $name"
  unpack "$DOWNLOADS/$name" "$UNPACKED" || fail "could not unpack $DOWNLOADS/$name; delete it and re-run ./get_icbeb.sh to download it again."
done
cp "$DOWNLOADS/REFERENCE.csv" "$UNPACKED/REFERENCE.csv"

# every record of the benchmark's table must be in the archives (macOS's __MACOSX/ copies do not count)
expected="$(grep -v '^#' "$SPLIT" | tail -n +2 | cut -d, -f1 | sort)"
total="$(echo "$expected" | wc -l | tr -d ' ')"
missing="$(comm -23 <(echo "$expected") \
  <(find "$UNPACKED" -name '*.mat' ! -name '.*' ! -path '*/__MACOSX/*' | sed -e 's|.*/||' -e 's/\.mat$//' | sort -u))"
if [ -n "$missing" ]; then
  count="$(echo "$missing" | wc -l | tr -d ' ')"
  fail "$count of the $total records are not in the archives (e.g. $(echo "$missing" | head -n 5 | paste -sd ' ' -)); the files in $DOWNLOADS are not the challenge's training set: delete them and re-run ./get_icbeb.sh (with ICBEB_URL set to another mirror if this one served them)."
fi

echo "Converting into the benchmark's layout (records500/, records100/, icbeb_database.csv)"
PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m code_used_upload.data.icbeb "$UNPACKED" "$CONVERTING" \
  || fail "the conversion failed (the message above says why); fix that and re-run ./get_icbeb.sh, which keeps the records converted so far in $CONVERTING."
[ -f "$CONVERTING/icbeb_database.csv" ] || fail "the conversion ended without writing $CONVERTING/icbeb_database.csv; re-run ./get_icbeb.sh."
mv "$CONVERTING" "$TARGET"
echo "ICBEB 2018 is in $TARGET ($total records at 500 Hz and 100 Hz). The raw files stay in $DOWNLOADS; delete that folder if you do not need them."
