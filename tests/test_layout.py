"""The package's structure: papers do not import each other, shared modules name no paper, docs cite nothing outside.

A study (``repro/atlas``) is the one place that reads several papers: it may import them; no paper and no shared
module imports a study.

These are the facts a newcomer relies on when adding a paper (docs/adding-a-paper.md): a paper package
composes shared modules only; a shared module never reaches into a paper; and every document of the
repository can be read in a clone of it.
"""
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from repro.registry import PAPER_MODULES, STUDY_MODULES

ROOT = Path(__file__).resolve().parent.parent
PAPERS = sorted(PAPER_MODULES)
STUDIES = sorted(STUDY_MODULES)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _paper_of(module: str) -> str | None:
    match = re.match(r"repro\.([a-z]+\d{4})", module)
    return match.group(1) if match else None


@pytest.mark.parametrize("paper", PAPERS)
def test_no_paper_imports_another(paper):
    for path in (ROOT / "repro" / paper).glob("*.py"):
        others = {_paper_of(m) for m in _imports(path)} - {None, paper}
        assert not others, f"{path.relative_to(ROOT)} imports {sorted(others)}"


def test_no_shared_module_imports_or_names_a_paper():
    shared = [p for p in (ROOT / "repro").rglob("*.py") if p.parent.name not in PAPERS + STUDIES]
    assert len(shared) > 30
    identifier = re.compile(r"\b(yosinski|neyshabur|liu|chen)(20\d\d)?_[a-z]|[A-Z_]*(YOSINSKI|NEYSHABUR)[A-Z_]*")
    for path in shared:
        imported = {_paper_of(m) for m in _imports(path)} - {None}
        assert not imported, f"{path.relative_to(ROOT)} imports {sorted(imported)}"
        code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        names = {node.id for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Name)}
        names |= {node.name for node in ast.walk(ast.parse(code)) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        flagged = sorted(n for n in names if identifier.search(n))
        assert not flagged, f"{path.relative_to(ROOT)} defines or uses paper-named identifiers {flagged}"


def test_no_shared_module_text_names_a_paper():
    """Docstrings, comments and strings of shared modules describe methods, not the papers that use them
    (the registry, which maps paper keys to their packages, is the one exception)."""
    shared = [p for p in (ROOT / "repro").rglob("*.py")
              if p.parent.name not in PAPERS + STUDIES and p.name != "registry.py"]
    named = re.compile("|".join([*PAPERS, r"\bYosinski", r"\bNeyshabur", r"\bLiu\b", r"\bChen\b"]))
    offending = [f"{p.relative_to(ROOT)}:{i}" for p in shared
                 for i, line in enumerate(p.read_text().splitlines(), 1) if named.search(line)]
    assert not offending, offending


def test_no_paper_and_no_shared_module_imports_a_study():
    studies = {f"repro.{study}" for study in STUDIES}
    outside = [p for p in (ROOT / "repro").rglob("*.py") if p.parent.name not in STUDIES]
    offending = [str(p.relative_to(ROOT)) for p in outside
                 if any(m == s or m.startswith(s + ".") for m in _imports(p) for s in studies)]
    assert not offending, offending


def test_no_file_cites_a_file_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode:
        pytest.skip("not a git checkout")
    # assembled from parts so that this file does not match itself
    pattern = re.compile("|".join(["DESIGN" + r"\.md", "reference" + "/[a-z]", "reference" + " §", "/wo" + "rk/",
                                   "/ro" + "ot/", r"\b[a-z]+20\d\d" + r"\.md", "anchors" + r"\.md"]))
    offending = []
    for name in tracked.stdout.split():
        path = ROOT / name
        if name.startswith("results/") or path.suffix not in {".py", ".md", ".csv", ".sh", ".cfg", ".toml", ".txt", ".html"}:
            continue
        if path.is_file() and pattern.search(path.read_text(errors="ignore")):
            offending.append(name)
    assert not offending, offending


def test_repro_list_does_not_import_tensorflow():
    code = ("import sys; from repro.cli import main; main(['list']); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True)


def test_neither_the_package_nor_the_tests_import_torch():
    """PyTorch is an optional extra of the benchmarks (benchmarks/twins.py, setup.cfg's ``bench``), never a dependency."""
    files = [*(ROOT / "repro").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    offending = [str(path.relative_to(ROOT)) for path in files
                 if any(name == "torch" or name.startswith("torch.") for name in _imports(path))]
    assert not offending, offending


def test_declaring_every_paper_s_grid_does_not_import_tensorflow():
    """repro run --dry-run and the CLI's argument checks build the grid: that must stay instant and quiet."""
    code = ("import sys; from repro.registry import PAPER_MODULES, STUDY_MODULES, get_paper\n"
            "for key in [*PAPER_MODULES, *STUDY_MODULES]:\n"
            "    paper = get_paper(key)\n"
            "    for scale in paper.scales: paper.runs(scale)\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True)
