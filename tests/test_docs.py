"""The README and the pages of docs/: every relative link reaches a file of the repository (and, with a
#anchor, a heading of that file, by GitHub's anchor rules), every script a README command names is in the
repository, and the README stays a front door (short, with its set-up and test commands near the top)."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
LONGEST_README = 300  # lines
SET_UP_WITHIN = 80    # lines: the set-up and test commands appear before this one
SET_UP_COMMANDS = ("./get_ptbxl.sh", "python code_used_upload/order_results_ptbxl1_upload.py")

FENCE = re.compile(r"^\s*(```|~~~)\s*(\S*)")
INLINE_CODE = re.compile(r"`+[^`]*`+")
LINK = re.compile(r"!?\[(?:[^\]]|\][^(])*\]\(<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)")  # [text](target "title")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...
# a script as a command names it: python [flags] path.py, bash path, ./path.sh
SCRIPT = re.compile(r"(?:^|[\s;&|(])(?:python3?\s+((?:-[A-Za-z]\S*\s+)*)(\S+\.py)\b|bash\s+([^\s-]\S*)|(\./\S+\.sh)\b)")


def parts(path):
    """(prose lines, fenced blocks) of a markdown file; a block is (its info string, its lines, its first line's
    number, 1-based)."""
    prose, blocks, block = [], [], None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fence = FENCE.match(line)
        if block is None and fence:
            block = (fence[2].lower(), [], number + 1)
        elif block is not None and fence and not fence[2]:
            blocks.append(block)
            block = None
        elif block is not None:
            block[1].append(line)
        else:
            prose.append(line)
    assert block is None, f"{path.name}: the code block opened on line {block[2] - 1} is never closed"
    return prose, blocks


def github_anchor(heading):
    """The anchor GitHub gives a heading: its text as shown (a link's text, no backticks or bold), lower case,
    every character but letters, digits, '_', '-' and spaces removed, each space a '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("**", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path):
    """Every heading's anchor in `path`, a repeated one numbered as GitHub numbers it (-1, -2, ...)."""
    found, seen = set(), {}
    for line in parts(path)[0]:
        heading = HEADING.match(line)
        if heading:
            anchor = github_anchor(heading[2])
            found.add(anchor if anchor not in seen else f"{anchor}-{seen[anchor]}")
            seen[anchor] = seen.get(anchor, 0) + 1
    return found


def links(path):
    """The target of every link of `path`'s prose (not inside code)."""
    return [target for line in parts(path)[0] for target in LINK.findall(INLINE_CODE.sub("", line))]


def broken_links(path):
    """The relative links of `path` that reach no file of the repository, or no heading of it."""
    broken = []
    for target in links(path):
        if EXTERNAL.match(target):
            continue
        place, _, anchor = target.partition("#")
        resolved = (path.parent / place).resolve() if place else path
        if not resolved.exists() or REPO not in (resolved, *resolved.parents):
            broken.append(f"{path.relative_to(REPO)}: {target} (no such file in the repository)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{path.relative_to(REPO)}: {target} (no heading #{anchor} in {resolved.relative_to(REPO)})")
    return broken


def named_scripts(path):
    """Every script that a command in a fenced block of `path` names (python blocks are code, not commands)."""
    found = []
    for info, lines, _ in parts(path)[1]:
        if info != "python":
            for line in lines:
                command = line.split(" #")[0]  # a comment is not a command
                found += [next(name for name in match[1:] if name) for match in SCRIPT.findall(command)]
    return found


def test_github_anchors_follow_its_rules():
    """Examples of GitHub's anchors (github-slugger, as GitHub renders headings), so that the link check below
    checks what GitHub shows."""
    assert github_anchor("Does LDM help?") == "does-ldm-help"
    assert github_anchor("ICBEB 2018, the benchmark's second dataset") == "icbeb-2018-the-benchmarks-second-dataset"
    assert github_anchor("`label_issues.csv`: the suspects") == "label_issuescsv-the-suspects"
    assert github_anchor("Many GPUs, many machines: Ray") == "many-gpus-many-machines-ray"
    assert github_anchor("[UniCon](https://example.org) and (D1)-(D7)") == "unicon-and-d1-d7"


def test_repeated_headings_are_numbered(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Flags\n\n## Flags\n\n```\n# not a heading\n```\n\n## Flags\n")
    assert anchors(page) == {"flags", "flags-1", "flags-2"}


def test_links_and_scripts_are_read_from_prose_and_commands(tmp_path):
    """A link inside code is no link; a command's script is found with its flags and after a pipe, not in a comment
    or in a python block."""
    page = tmp_path / "page.md"
    page.write_text("See [a](a.md#b) and `[c](d.md)`.\n\n```bash\npython -u x/y.py --flag  # python z.py\n"
                    "./get.sh && bash run/it\n```\n\n```python\npython = 'w.py'\n```\n")
    assert links(page) == ["a.md#b"]
    assert named_scripts(page) == ["x/y.py", "./get.sh", "run/it"]


def test_every_relative_link_reaches_a_file_and_its_heading():
    assert PAGES, "docs/ holds no page"
    broken = [line for path in (README, *PAGES) for line in broken_links(path)]
    assert not broken, "\n".join(broken)


def test_every_script_a_readme_command_names_exists():
    scripts = named_scripts(README)
    assert "code_used_upload/order_results_ptbxl1_upload.py" in scripts
    missing = [script for script in scripts if not (REPO / script).is_file()]
    assert not missing, f"README.md names scripts that are not in the repository: {missing}"


def test_the_readme_is_a_front_door():
    """At most 300 lines; the set-up commands and CI's test command within its first 80; every page linked."""
    text = README.read_text()
    assert len(text.splitlines()) <= LONGEST_README
    top = "\n".join(text.splitlines()[:SET_UP_WITHIN])
    ci_test = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]  # the command CI runs the suite with
    for command in (*SET_UP_COMMANDS, ci_test):
        assert command in top, f"README.md: {command!r} is not in its first {SET_UP_WITHIN} lines"
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in links(README)}
    assert not [page.name for page in PAGES if page.resolve() not in linked], "README.md links every page of docs/"
