#!/usr/bin/env bash
# Download PTB-XL from PhysioNet into data/ptbxl/ (or $PTBXL_DIR), in the release's own layout.
#
#   ./get_ptbxl.sh                        release 1.0.1, the one the LDM paper used
#   PTBXL_VERSION=1.0.3 ./get_ptbxl.sh    the current release
#   PTBXL_URL=... PTBXL_DIR=... ./get_ptbxl.sh
#
# A broken download resumes on the next run. The archive is unpacked beside the target, every file
# is checked against the release's SHA256SUMS.txt, and only a verified folder is moved into place,
# so the target never looks complete when it is not. On a verified folder it does nothing.
set -euo pipefail

VERSION="${PTBXL_VERSION:-1.0.1}"
case "$VERSION" in
  1.0.1 | 1.0.3) ;;
  *) echo "PTBXL_VERSION=$VERSION: this script knows releases 1.0.1 and 1.0.3." >&2; exit 2 ;;
esac
URL="${PTBXL_URL:-https://physionet.org/static/published-projects/ptb-xl/ptb-xl-a-large-publicly-available-electrocardiography-dataset-$VERSION.zip}"
TARGET="${PTBXL_DIR:-$(cd "$(dirname "$0")" && pwd)/data/ptbxl}"
TARGET="${TARGET%/}"
ARCHIVE="$TARGET.zip"   # a complete download
PARTIAL="$ARCHIVE.part" # a download in progress, resumed by curl -C -

fail() { echo "get_ptbxl.sh: $*" >&2; exit 1; }

for tool in curl sha256sum; do
  command -v "$tool" > /dev/null || fail "needs '$tool', which is not installed (install it with your package manager, e.g. apt-get install $([ "$tool" = sha256sum ] && echo coreutils || echo curl))."
done
if command -v unzip > /dev/null; then
  unpack() { unzip -q "$1" -d "$2"; }
elif command -v python3 > /dev/null; then
  unpack() { python3 -m zipfile -e "$1" "$2"; }
else
  fail "needs 'unzip' (or python3) to unpack the archive; install one (e.g. apt-get install unzip)."
fi

# verify FOLDER: check every file SHA256SUMS.txt lists; print each bad or missing one
verify() {
  [ -f "$1/SHA256SUMS.txt" ] || { echo "  SHA256SUMS.txt: missing"; return 1; }
  local report
  report="$(cd "$1" && sha256sum -c SHA256SUMS.txt 2> /dev/null | grep -v ': OK$' || true)"
  [ -z "$report" ] && return 0
  echo "$report" | sed -e 's/: FAILED open or read$/: missing/' -e 's/: FAILED$/: checksum mismatch/' -e 's/^/  /'
  return 1
}

if [ -d "$TARGET" ]; then
  if problems="$(verify "$TARGET")"; then
    echo "PTB-XL is already present and verified in $TARGET (every file matches SHA256SUMS.txt); nothing to do."
    exit 0
  fi
  fail "$TARGET exists but does not match its SHA256SUMS.txt:
$problems
Remove that folder and re-run ./get_ptbxl.sh to download PTB-XL again."
fi

if [ -e "$TARGET" ] || [ -L "$TARGET" ]; then
  fail "$TARGET is not a folder (a file, or a link to nothing); move it away, or set PTBXL_DIR to another path."
fi
if { [ -e "$ARCHIVE" ] || [ -L "$ARCHIVE" ]; } && [ ! -f "$ARCHIVE" ]; then
  fail "$ARCHIVE, where the download goes, is not a file (a folder, or a link to nothing); move it away and re-run ./get_ptbxl.sh."
fi

mkdir -p "$(dirname "$TARGET")"
FETCHED="" # whether this run downloaded the archive: only then is it ever removed (one put there by hand is the user's)
if [ ! -f "$ARCHIVE" ]; then
  echo "Downloading PTB-XL $VERSION from $URL"
  status=0
  curl -fL --retry 3 -C - -o "$PARTIAL" "$URL" || status=$?
  if [ "$status" -eq 33 ]; then # the server cannot resume: start again from the beginning
    rm -f "$PARTIAL"
    status=0
    curl -fL --retry 3 -o "$PARTIAL" "$URL" || status=$?
  fi
  [ "$status" -eq 0 ] || fail "download from $URL failed (curl exit $status); re-run ./get_ptbxl.sh to resume it."
  mv "$PARTIAL" "$ARCHIVE"
  FETCHED=1
fi

UNPACKED="$(mktemp -d "$(dirname "$TARGET")/.ptbxl-unpacking.XXXXXX")"
trap 'rm -rf "$UNPACKED"' EXIT
echo "Unpacking $ARCHIVE"
if ! unpack "$ARCHIVE" "$UNPACKED"; then
  [ -n "$FETCHED" ] || fail "could not unpack $ARCHIVE, which was there before (left as it is); move it away and re-run ./get_ptbxl.sh to download PTB-XL."
  rm -f "$ARCHIVE"
  fail "could not unpack $ARCHIVE (removed it); re-run ./get_ptbxl.sh to download it again."
fi
# the release's archive holds one top folder; accept the files at the top level too
entries=("$UNPACKED"/*)
if [ "${#entries[@]}" -eq 1 ] && [ -d "${entries[0]}" ]; then ROOT="${entries[0]}"; else ROOT="$UNPACKED"; fi

echo "Verifying every file against SHA256SUMS.txt"
if ! problems="$(verify "$ROOT")"; then
  [ -n "$FETCHED" ] || fail "$ARCHIVE, which was there before, does not match PTB-XL's SHA256SUMS.txt:
$problems
Nothing was installed and the archive was left as it is; move it away and re-run ./get_ptbxl.sh to download PTB-XL."
  rm -f "$ARCHIVE"
  fail "the downloaded PTB-XL does not match its SHA256SUMS.txt:
$problems
Nothing was installed and the archive was removed; re-run ./get_ptbxl.sh to download it again."
fi
mv "$ROOT" "$TARGET"
if [ -n "$FETCHED" ]; then
  rm -f "$ARCHIVE"
  echo "PTB-XL $VERSION is in $TARGET (verified)."
else
  echo "PTB-XL $VERSION is in $TARGET (verified), unpacked from $ARCHIVE, which was there before and is left as it is."
fi
