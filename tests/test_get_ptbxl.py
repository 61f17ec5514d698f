"""get_ptbxl.sh against a small release-shaped zip served on 127.0.0.1: download, verify, resume, refuse."""

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "get_ptbxl.sh"
TOP = "ptb-xl-a-large-publicly-available-electrocardiography-dataset-1.0.1"
RELEASE_FILES = {
    "ptbxl_database.csv": b"ecg_id,scp_codes\n1,\"{'NORM': 100.0}\"\n",
    "scp_statements.csv": b",description\nNORM,normal ECG\n",
    "records100/00000/00001_lr.hea": b"00001_lr 12 100 1000\n",
    "records100/00000/00001_lr.dat": bytes(range(256)) * 40,
    "records500/00000/00001_hr.hea": b"00001_hr 12 500 5000\n",
    "records500/00000/00001_hr.dat": bytes(range(255, -1, -1)) * 200,
}


def release_zip(path, corrupt=None, leave_out=None):
    """A zip in the release's layout (one top folder, SHA256SUMS.txt of every file), optionally damaged."""
    sums = "".join(f"{hashlib.sha256(data).hexdigest()} {name}\n" for name, data in RELEASE_FILES.items())
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{TOP}/SHA256SUMS.txt", sums)
        for name, data in RELEASE_FILES.items():
            if name == leave_out:
                continue
            archive.writestr(f"{TOP}/{name}", data + b"x" if name == corrupt else data)
    return path


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """http.server's file handler plus 'Range: bytes=N-' (which it lacks), recording each request."""

    requests = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).requests.append((self.path, self.headers.get("Range")))
        byte_range = self.headers.get("Range")
        if not (self.ranges and byte_range and byte_range.startswith("bytes=")):
            return super().do_GET()
        data = Path(self.translate_path(self.path)).read_bytes()
        start = int(byte_range[len("bytes="):].split("-")[0])
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def serve(tmp_path):
    """serve(ranges) -> (url of release.zip in tmp_path/www, list of (path, Range header) requests)."""
    servers = []

    def start(ranges):
        handler = type("Handler", (RangeHandler,), {"requests": [], "ranges": ranges})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(tmp_path / "www")))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/release.zip", handler.requests

    (tmp_path / "www").mkdir()
    yield start
    for server in servers:
        server.shutdown()


def run_script(url, target, path=None):
    env = dict(os.environ, PTBXL_URL=url, PTBXL_DIR=str(target))
    if path is not None:
        env["PATH"] = path
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def assert_release_in(target):
    for name, data in RELEASE_FILES.items():
        assert (target / name).read_bytes() == data, name
    assert (target / "SHA256SUMS.txt").is_file()


def leftovers(parent):
    return sorted(p.name for p in parent.iterdir() if p.name != "ptbxl")


def test_downloads_verifies_and_second_run_does_nothing(tmp_path, serve):
    url, requests = serve(ranges=False)
    release_zip(tmp_path / "www" / "release.zip")
    target = tmp_path / "data" / "ptbxl"

    first = run_script(url, target)
    assert first.returncode == 0, first.stderr
    assert_release_in(target)
    assert leftovers(target.parent) == []  # no archive, partial file or unpacking folder left
    assert len(requests) == 1

    second = run_script(url, target)
    assert second.returncode == 0, second.stderr
    assert "already present and verified" in second.stdout
    assert len(requests) == 1  # nothing downloaded


def test_corrupt_and_missing_files_are_named_and_nothing_is_installed(tmp_path, serve):
    url, _ = serve(ranges=False)
    release_zip(tmp_path / "www" / "release.zip", corrupt="records100/00000/00001_lr.dat", leave_out="records500/00000/00001_hr.hea")
    target = tmp_path / "data" / "ptbxl"

    result = run_script(url, target)
    assert result.returncode != 0
    assert "records100/00000/00001_lr.dat: checksum mismatch" in result.stderr
    assert "records500/00000/00001_hr.hea: missing" in result.stderr
    assert "scp_statements.csv" not in result.stderr  # only the bad files are named
    assert not target.exists()
    assert leftovers(target.parent) == []  # the bad archive is removed so a re-run downloads afresh


def test_an_archive_put_there_by_hand_is_never_removed(tmp_path, serve):
    url, requests = serve(ranges=False)
    target = tmp_path / "data" / "ptbxl"
    target.parent.mkdir()
    archive = Path(f"{target}.zip")
    for bytes_there, said in ((b"the user's own bytes", "could not unpack"),
                              (release_zip(tmp_path / "other.zip", corrupt="scp_statements.csv").read_bytes(),
                               "scp_statements.csv: checksum mismatch")):
        archive.write_bytes(bytes_there)
        result = run_script(url, target)
        assert result.returncode != 0 and said in result.stderr and "which was there before" in result.stderr
        assert archive.read_bytes() == bytes_there and not target.exists()
    good = release_zip(archive).read_bytes()
    result = run_script(url, target)
    assert result.returncode == 0 and "left as it is" in result.stdout, result.stderr
    assert_release_in(target)
    assert archive.read_bytes() == good  # installed from it, and kept
    assert requests == []  # an archive there is used as it is


def test_a_folder_where_the_archive_goes_or_a_file_where_the_release_goes_is_one_line(tmp_path, serve):
    url, requests = serve(ranges=False)
    target = tmp_path / "data" / "ptbxl"
    Path(f"{target}.zip").mkdir(parents=True)
    result = run_script(url, target)
    assert result.returncode != 0 and result.stderr.count("\n") == 1 and "is not a file (a folder" in result.stderr
    target.write_text("a file of yours")
    result = run_script(url, target)
    assert result.returncode != 0 and result.stderr.count("\n") == 1 and "is not a folder" in result.stderr
    assert target.read_text() == "a file of yours" and requests == []


def test_resumes_a_partial_download(tmp_path, serve):
    url, requests = serve(ranges=True)
    archive = release_zip(tmp_path / "www" / "release.zip").read_bytes()
    target = tmp_path / "data" / "ptbxl"
    target.parent.mkdir()
    cut = len(archive) * 2 // 5
    Path(f"{target}.zip.part").write_bytes(archive[:cut])

    result = run_script(url, target)
    assert result.returncode == 0, result.stderr
    assert requests == [("/release.zip", f"bytes={cut}-")]  # only the missing tail was fetched
    assert_release_in(target)


def test_partial_download_restarts_when_the_server_cannot_resume(tmp_path, serve):
    url, requests = serve(ranges=False)
    archive = release_zip(tmp_path / "www" / "release.zip").read_bytes()
    target = tmp_path / "data" / "ptbxl"
    target.parent.mkdir()
    Path(f"{target}.zip.part").write_bytes(b"garbage" + archive[7:100])

    result = run_script(url, target)
    assert result.returncode == 0, result.stderr
    assert [byte_range for _, byte_range in requests] == ["bytes=100-", None]
    assert_release_in(target)


def test_existing_damaged_folder_is_reported_not_downloaded(tmp_path, serve):
    url, requests = serve(ranges=False)
    release_zip(tmp_path / "www" / "release.zip")
    target = tmp_path / "data" / "ptbxl"
    assert run_script(url, target).returncode == 0
    (target / "scp_statements.csv").write_bytes(b"changed")

    result = run_script(url, target)
    assert result.returncode != 0
    assert "scp_statements.csv: checksum mismatch" in result.stderr
    assert len(requests) == 1


def test_missing_curl_is_named(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ["bash", "dirname", "sha256sum", "unzip", "python3"]:
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))
    result = run_script("http://127.0.0.1:9/none.zip", tmp_path / "ptbxl", path=str(bin_dir))
    assert result.returncode != 0
    assert "needs 'curl'" in result.stderr
