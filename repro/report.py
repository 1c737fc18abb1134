"""``repro report``: one Markdown and one HTML page per paper and scale, from files already on disk.

A report is assembled, never computed: nothing is trained, no experiment or
comparison is rerun, and neither Keras nor TensorFlow is imported. Its parts
and where each comes from:

- title: the first heading of ``papers/<key>/README.md``;
- protocol: the module docstring of ``repro/<key>/protocol.py`` (reST turned
  into Markdown), then the README's section on the scale (the level-2 heading
  that starts with "<Scale> scale" or reads "Protocol ... <scale> scale") up
  to its first sub-heading;
- run: ``<out>/<key>/<scale>/run_summary.json`` (command, timing, environment);
- published vs measured and claim verdicts: ``comparison.csv`` written by
  ``repro compare`` (:data:`repro.compare.COMPARISON_COLUMNS`), the claims'
  text and location from ``papers/<key>/claims.csv``;
- figures: every PNG of the results directory, captioned from the
  documentation of ``repro/<key>/figures.py``.

``<key>-<scale>.md`` and ``<key>-<scale>.html`` go to the report directory,
with ``index.md``/``index.html`` listing every report there. Figures and
links are relative paths from the report directory to the results and paper
files, so they resolve wherever both trees keep their places; the committed
reports live in ``reports/`` beside ``results/`` and ``papers/``. The HTML is
one page with its CSS inline, its figures referenced by those same paths. The
same files give byte-identical reports: no clock, no host, no absolute path.
"""
from __future__ import annotations

import ast
import html
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import markdown

from repro.compare import COMPARISON_COLUMNS, VERDICTS, _fmt, _plural, _read_table, load_claims, repo_root
from repro.files import atomic_write_text
from repro.verdicts import MARKS
from repro.errors import BadArgument, ReproError
from repro.registry import STUDY_MODULES, get_paper, paper_keys

DEFAULT_OUT = Path("results")
DEFAULT_REPORT_DIR = Path("reports")
_RST_BORDER = re.compile(r"^=+( +=+)+$")
_RST_ROLE = re.compile(r":[a-z]+:`([^`]+)`")
_MD_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)\)")
_CSS = """
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; margin: 0; }
main { max-width: 1150px; margin: 0 auto; padding: 1.5em 2em 4em; }
h1, h2, h3 { line-height: 1.25; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } tr:nth-child(even) td { background: #fbfcfd; }
code { background: #f3f4f6; padding: .1em .3em; border-radius: 4px; font-size: 90%; }
pre { background: #f6f8fa; padding: 1em; overflow-x: auto; } pre code { background: none; padding: 0; }
img { max-width: 100%; border: 1px solid #d0d7de; }
""".strip()


@dataclass(frozen=True)
class Report:
    """One paper's report at one scale: its Markdown and the files it is written to."""

    paper: str
    scale: str
    title: str
    markdown: str

    @property
    def stem(self) -> str:
        return f"{self.paper}-{self.scale}"


def write_reports(papers: Sequence[str] | None, scale: str, out: Path = DEFAULT_OUT,
                  report_dir: Path = DEFAULT_REPORT_DIR) -> list[Path]:
    """Render the reports of ``papers`` (default: every registered paper) at ``scale`` and write them.

    Every report is rendered before any file is written, so bad input leaves
    nothing half-written. Writes ``<key>-<scale>.md`` and ``.html`` per paper,
    then ``index.md`` and ``index.html`` over every report in ``report_dir``;
    returns the paths written.
    """
    report_dir = Path(report_dir)
    keys = papers or paper_keys() + [k for k in STUDY_MODULES if (Path(out) / k / scale / "comparison.md").is_file()]
    reports = [build_study_report(key, scale, Path(out), report_dir) if key in STUDY_MODULES
               else build_report(key, scale, Path(out), report_dir) for key in dict.fromkeys(keys)]
    report_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for report in reports:
        written += _write_page(report_dir / report.stem, report.title, report.markdown)
    written += _write_page(report_dir / "index", "transfer-repro reports", index_markdown(report_dir, Path(out)))
    return written


def build_study_report(study: str, scale: str, out: Path = DEFAULT_OUT,
                       report_dir: Path = DEFAULT_REPORT_DIR) -> Report:
    """The page of a study (``repro atlas``) at ``scale``: its ``comparison.md``, links rebased to the report
    directory, under a link to the study's document ``docs/<study>.md``."""
    page = Path(out) / study / scale / "comparison.md"
    if not page.is_file():
        raise BadArgument(f"no {study} comparison at scale {scale!r} in {page.parent}; run `repro {study} --scale "
                          f"{scale}` first")
    title = get_paper(study).title
    link = _Linker(report_dir)
    body = link.rebase(page.read_text(encoding="utf-8"), page).split("\n", 1)[1]
    lines = [f"# {title} (scale `{scale}`)", "",
             f"The question, the measures and the rule: {link.md(repo_root() / 'docs' / f'{study}.md', f'docs/{study}.md')}. "
             f"Results: {link.md(page.parent, page.parent.as_posix() + '/')}.", body]
    return Report(paper=study, scale=scale, title=title, markdown="\n".join(lines))


def build_report(paper: str, scale: str, out: Path = DEFAULT_OUT, report_dir: Path = DEFAULT_REPORT_DIR) -> Report:
    """The report of ``paper`` at ``scale`` from ``<out>/<paper>/<scale>/``.

    Raises :class:`ReproError` (one line, exit 2 at the command line) for an
    unknown paper, a scale without results, or a missing or stale comparison.
    """
    if paper not in paper_keys():
        raise BadArgument(f"unknown paper {paper!r}; accepted: {', '.join(paper_keys() + list(STUDY_MODULES))}")
    results = Path(out) / paper / scale
    if not results.is_dir():
        have = sorted(p.parent.name for p in (Path(out) / paper).glob("*/comparison.csv"))
        raise BadArgument(f"no {paper} results at scale {scale!r} in {results}; scales with results: "
                          f"{', '.join(have) or 'none'} (run `repro run {paper} --scale {scale}`, "
                          "then `repro compare`)")
    quantities, verdicts, parts = read_comparison(results, paper, scale)
    title = paper_title(paper)
    link = _Linker(report_dir)
    figures = sorted(results.glob("*.png"))
    measured = _measured_rows(quantities)
    unmatched = sum(q["status"] == "no analogue" for q in quantities)
    lines = [
        f"# {title} (scale `{scale}`)", "",
        f"**Claims: {_count_text([v['verdict'] for v in verdicts])}** of {len(verdicts)}, on the results in "
        f"{link.md(results, results.as_posix() + '/')}. {_scale_sentence(scale)} A claim holds when every part "
        "holds, fails when a part fails beyond noise, and is inconclusive when a part cannot be told from noise "
        "at this scale.", "",
        *_table(("id", "claim", "verdict", "parts"),
                [(v["key"], v["claim"], f"**{v['verdict']}**",
                  " ".join(f"({p['part']}) {MARKS.get(p['verdict'], '')}" for p in parts.get(v["key"], [])))
                 for v in verdicts]), "",
        "## Figures", "",
        *_figure_lines(paper, figures, link),
        "## Claims in detail", "",
    ]
    for v in verdicts:
        lines += [f"### {v['key']}: {v['verdict']}", "", f"{_inline(v['claim'])} ({_inline(v['location'])})", ""]
        rows = parts.get(v["key"], [])
        lines += _table(("part", "the paper says (rule)", "outcome", "numbers", "detectable"),
                        [(f"({p['part']})", p["says"], f"{MARKS.get(p['verdict'], '')} {p['verdict']}", p["evidence"],
                          p["detectable"]) for p in rows], empty=_inline(v["evidence"]))
        lines.append("")
    lines += [
        "## Protocol", "",
        protocol_summary(paper), "",
        f"*From the docstring of {link.md(_source(paper, 'protocol.py'), f'repro/{paper}/protocol.py')}; "
        f"the whole protocol, the official code's differences and each scale's deviations are in "
        f"{link.md(_readme(paper), f'papers/{paper}/README.md')}.*", "",
        *_scale_section(paper, scale, link),
        "## Run", "",
        *_run_table(results), "",
        "## Published vs measured", "",
        f"<details markdown=\"1\"><summary>{len(measured)} published quantities compared here "
        f"({unmatched} published values without a measured analogue at this scale are listed in "
        f"comparison.csv)</summary>", "",
        "`delta` = measured - published.", "",
        *_table(("quantity", "condition", "n", "target", "published", "source", "measured", "delta", "location"),
                measured, empty="No published number has a measured analogue here."), "",
        "</details>",
    ]
    return Report(paper, scale, title, "\n".join(lines) + "\n")


def _scale_sentence(scale: str) -> str:
    if scale == "paper":
        return "This is the paper's own protocol and data."
    if scale == "smoke":
        return "The smoke scale checks the machinery, not the science."
    return (f"The {scale} scale runs each experiment of the paper's protocol on small embedded data sets on a CPU; "
            "its numbers are not the paper's (the paper's README lists every deviation), so the claims are judged "
            "on their direction and shape, with this scale's noise.")


def _measured_rows(quantities: Sequence[dict[str, str]]) -> list[list[str]]:
    """One row per measured quantity key, the published values of every source of that key together."""
    grouped: dict[tuple, list[dict[str, str]]] = {}
    for q in quantities:
        if q["status"] != "no analogue":
            grouped.setdefault((q["key"], q["condition"], q["n"], q["target"]), []).append(q)
    rows = []
    for group in grouped.values():
        cells = _quantity_cells(group[0])
        cells[4] = " / ".join(dict.fromkeys(q["published"] for q in group))
        cells[5] = ", ".join(dict.fromkeys(q["provenance"] for q in group))
        cells[8] = "; ".join(dict.fromkeys(q["location"] for q in group))
        rows.append(cells)
    return rows


def read_comparison(results: Path, paper: str, scale: str
                    ) -> tuple[list[dict[str, str]], list[dict[str, str]], dict[str, list[dict[str, str]]]]:
    """The quantity rows, the claim rows (joined with ``claims.csv``) and each claim's part rows of
    ``comparison.csv``.

    Raises :class:`ReproError` when the file is missing, was written by an older ``repro compare``, or its claim
    ids are not those of ``papers/<paper>/claims.csv`` (a stale comparison).
    """
    path = results / "comparison.csv"
    rerun = f"run `repro compare {paper} --scale {scale} --out {results.parent.parent}`"
    if not path.is_file():
        raise ReproError(f"{path} does not exist: {rerun} first")
    try:
        rows = [row for _, row in _read_table(path, COMPARISON_COLUMNS)]
    except ReproError as exc:
        raise ReproError(f"{exc}: {rerun} again") from None
    claims = {c.id: c for c in load_claims(paper)}
    verdicts = [row for row in rows if row["section"] == "claim"]
    if [v["key"] for v in verdicts] != list(claims):
        raise ReproError(f"{path}: its claims ({', '.join(v['key'] for v in verdicts)}) are not those of "
                         f"papers/{paper}/claims.csv ({', '.join(claims)}): {rerun} again")
    joined = [row | {"claim": claims[row["key"]].claim, "location": claims[row["key"]].location} for row in verdicts]
    parts: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        if row["section"] == "part":
            parts.setdefault(row["key"], []).append(row)
    return [row for row in rows if row["section"] == "quantity"], joined, parts


def protocol_summary(paper: str) -> str:
    """The docstring of ``repro/<paper>/protocol.py`` without its title line, as Markdown."""
    doc = _docstring(_source(paper, "protocol.py"))
    return rst_to_markdown(doc.split("\n", 1)[1].strip() if "\n" in doc else "")


def rst_to_markdown(text: str) -> str:
    """The reST of the suite's docstrings as Markdown.

    Handles what the docstrings use: inline roles and literals (``:mod:`x```,
    ````x````) become code spans, literal blocks after ``::`` become fenced
    code, simple tables (``===`` borders) become pipe tables; lists and
    paragraphs are already Markdown.
    """
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if _RST_BORDER.match(line):
            end = next((j for j in range(i + 1, len(lines)) if not lines[j].strip()), len(lines))
            out += _rst_table(lines[i:end])
            i = end
        elif line.rstrip().endswith("::"):
            head = line.rstrip()[:-2].rstrip()
            if head:
                out += [_inline_rst(head) + ":"]
            block, i = [], i + 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            indent = min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0)
            out += ["", "```", *[b[indent:] for b in block], "```", ""]
        else:
            out.append(_inline_rst(line))
            i += 1
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def figure_caption(paper: str, name: str) -> str:
    """The description of the PNG ``name`` in ``repro/<paper>/figures.py``, prefixed with the file name.

    Taken from the module docstring's bullet that names the file (its text
    after the name, or else the first paragraph of the function it names),
    or the bullet that starts with the figure's name ("figure2" -> "Figure 2").
    """
    module = _source(paper, "figures.py")
    doc = _docstring(module) if module.is_file() else ""
    bullets = [" ".join(b.split("\n\n")[0].split()) for b in re.split(r"\n(?=- )", doc) if b.startswith("- ")]
    title = re.sub(r"([a-z])(\d)", r"\1 \2", Path(name).stem.replace("_", " ")).lower()
    for bullet in bullets:
        if f"``{name}``" in bullet:
            after = bullet.split(f"``{name}``", 1)[1].lstrip(": ").strip()
            function = re.search(r":func:`([^`]+)`", bullet)
            described = after or (function and _function_doc(module, function.group(1))) or bullet
            return f"{name}: {_inline_rst(described)}"
    for bullet in bullets:
        if bullet[2:].lower().startswith(title):
            return f"{name}: {_inline_rst(bullet[2:])}"
    return f"{name} (not described in repro/{paper}/figures.py)"


def paper_title(paper: str) -> str:
    """The first level-1 heading of ``papers/<paper>/README.md``, else the key."""
    for line in _readme(paper).read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return paper


def report_command(paper: str | None, scale: str, out: Path, report_dir: Path) -> str:
    """The ``repro report`` command line that regenerates a report (options left out at their defaults)."""
    words = ["repro", "report", *([paper] if paper else [])]
    words += ["--scale", scale] if scale != "mini" else []
    words += ["--out", str(out)] if Path(out) != DEFAULT_OUT else []
    words += ["--report-dir", str(report_dir)] if Path(report_dir) != DEFAULT_REPORT_DIR else []
    return " ".join(words)


def index_markdown(report_dir: Path, out: Path = DEFAULT_OUT) -> str:
    """The index page: one row per ``<key>-<scale>.md`` report in ``report_dir`` (claim counts from ``out``)."""
    rows = []
    for path in sorted(Path(report_dir).glob("*-*.md")):
        paper, _, scale = path.stem.partition("-")
        if paper in STUDY_MODULES:
            rows.append((f"`{paper}`", path.read_text(encoding="utf-8").splitlines()[0].lstrip("# "), f"`{scale}`",
                         "a study: agreement verdicts", f"[Markdown]({path.name}) · [HTML]({path.stem}.html)"))
            continue
        if paper not in paper_keys():
            continue
        comparison = Path(out) / paper / scale / "comparison.csv"
        verdicts = [r["verdict"] for _, r in _read_table(comparison, ("section", "verdict"))
                    if r["section"] == "claim"] if comparison.is_file() else []
        counts = _count_text(verdicts) if verdicts else "no comparison.csv"
        rows.append((f"`{paper}`", paper_title(paper), f"`{scale}`", counts,
                     f"[Markdown]({path.name}) · [HTML]({path.stem}.html)"))
    return "\n".join([
        "# transfer-repro reports", "",
        "One page per paper and scale: protocol, run, published vs measured numbers, claim verdicts and "
        f"figures, rendered from the committed results by `{report_command(None, 'mini', out, report_dir)}`.", "",
        *_table(("paper", "title", "scale", "claims", "report"), rows, empty="No report yet."),
    ]) + "\n"


def to_html(text: str, title: str) -> str:
    """A single self-contained HTML page (inline CSS) of the Markdown ``text``."""
    body = markdown.markdown(text, extensions=["tables", "fenced_code", "sane_lists", "md_in_html"], output_format="html")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n"
            f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n")


class _Linker:
    """Relative paths from the report directory to files of the checkout."""

    def __init__(self, report_dir: Path) -> None:
        self.base = Path(report_dir).resolve()

    def path(self, target: Path) -> str:
        text = Path(os.path.relpath(Path(target).resolve(), self.base)).as_posix()
        return text + "/" if Path(target).is_dir() else text

    def md(self, target: Path, label: str) -> str:
        return f"[{label}]({self.path(target)})"

    def rebase(self, text: str, source_file: Path) -> str:
        """Markdown ``text`` from ``source_file`` with its relative links rewritten for the report directory."""
        def fix(match: re.Match) -> str:
            target = match.group(2)
            if re.match(r"[a-z]+:", target) or target.startswith("/"):
                return match.group(0)
            if target.startswith("#"):
                return f"{match.group(1)}{self.path(source_file)}{target})"
            path, _, anchor = target.partition("#")
            rebased = self.path(source_file.parent / path) + (f"#{anchor}" if anchor else "")
            return f"{match.group(1)}{rebased})"
        return _MD_LINK.sub(fix, text)


def _scale_section(paper: str, scale: str, link: _Linker) -> list[str]:
    """The README's section on ``scale`` up to its first sub-heading (indentation doubled so that
    Python-Markdown nests lists as GitHub does), with a link to the whole section."""
    readme = _readme(paper)
    lines = readme.read_text(encoding="utf-8").splitlines()
    pattern = re.compile(rf"## ({re.escape(scale)} scale|protocol\b.*\b{re.escape(scale)} scale)", re.I)
    start = next((i for i, line in enumerate(lines) if pattern.match(line)), None)
    if start is None:
        return [f"### Scale `{scale}`", "", f"papers/{paper}/README.md has no section on scale `{scale}`.", ""]
    body, fenced = [], False
    for line in lines[start + 1:]:
        fenced ^= line.startswith("```")
        if line.startswith("#") and not fenced:
            break
        body.append(re.sub(r"^ +", lambda m: m.group(0) * 2, line) if not fenced else line)
    heading = lines[start][3:].strip()
    anchor = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
    return [f"### {heading}", "", link.rebase("\n".join(body).strip(), readme), "",
            f"*From {link.md(readme, f'papers/{paper}/README.md')}, section "
            f"[{heading}]({link.path(readme)}#{anchor}).*", ""]


def _figure_lines(paper: str, figures: Sequence[Path], link: _Linker) -> list[str]:
    """Each PNG under its name, then its caption."""
    lines = []
    for png in figures:
        lines += [f"### {png.name}", "", f"![{png.stem}]({link.path(png)})", "",
                  f"*{_inline(figure_caption(paper, png.name))}*", ""]
    return lines or ["No PNG in the results directory.", ""]


def _run_table(results: Path) -> list[str]:
    path = results / "run_summary.json"
    if not path.is_file():
        return [f"No run_summary.json in {results}: the command, timing and environment of the runs were not recorded."]
    try:
        summary: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ReproError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    rows = []
    for key in sorted(summary, key=lambda k: k != "command"):
        value = summary[key]
        if isinstance(value, dict):
            rows += [(f"{key}: {k}", str(v)) for k, v in value.items()]
        elif isinstance(value, list):
            rows.append((key, ", ".join(map(str, value))))
        elif key == "seconds":
            rows.append((key, f"{value} ({float(value) / 60:.1f} min)"))
        else:
            rows.append((key, f"`{value}`" if key == "command" else str(value)))
    return ["From `run_summary.json`, written by `repro run`:", "", *_table(("", ""), rows)]


def _quantity_cells(row: dict[str, str]) -> list[str]:
    unit = row["unit"]
    measured = _fmt(float(row["measured"]), unit) if row["status"] == "measured" else row["status"]
    delta = _fmt(float(row["delta"]), unit, signed=True) if row["delta"] else ""
    return [row["key"], row["condition"], row["n"], row["target"], row["published"], row["provenance"],
            measured, delta, row["location"]]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], empty: str = "") -> list[str]:
    """A Markdown pipe table (or ``empty`` when there is no row); see :func:`_cell` for the cells."""
    if not rows and empty:
        return [empty]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]]


def _cell(text: str) -> str:
    """A cell that is one bold word, one code span or links is kept as Markdown; any other is escaped."""
    if re.fullmatch(r"\*\*[^*]+\*\*|`[^`]+`|\[[^\]]+\]\([^)]+\)( · \[[^\]]+\]\([^)]+\))*", text):
        return text
    return _inline(text)


def _inline(text: str) -> str:
    """Text on one line, safe in a Markdown table cell: pipes escaped everywhere, '*' and '<' outside code spans."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(part if i % 2 else part.replace("*", "\\*").replace("<", "&lt;")
                   for i, part in enumerate(parts)).replace("|", "\\|")


def _count_text(verdicts: Sequence[str]) -> str:
    """'2 hold, 7 fail, 1 inconclusive' for a list of verdicts (outcomes no claim has are left out, but hold and
    fail)."""
    counts = {v: list(verdicts).count(v) for v in VERDICTS}
    return ", ".join(f"{counts[v]} {_plural(v, counts[v])}" for v in VERDICTS if counts[v] or v in ("holds", "fails"))


def _rst_table(lines: list[str]) -> list[str]:
    """A reST simple table (border, header, border, rows, border) as a Markdown table; a row whose first
    column is blank continues the row above."""
    starts = [m.start() for m in re.finditer(r"=+", lines[0])]
    sections: list[list[list[str]]] = [[]]
    for line in lines[1:]:
        if _RST_BORDER.match(line):
            sections.append([])
            continue
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [len(line) + 1])]
        if sections[-1] and not cells[0]:
            sections[-1][-1] = [f"{old} {new}".strip() for old, new in zip(sections[-1][-1], cells)]
        else:
            sections[-1].append(cells)
    header, body = (sections[0][0], sections[1]) if len(sections) > 2 else ([""] * len(starts), sections[0])
    return ["", *_table([_inline_rst(c) for c in header], [[_inline_rst(c) for c in row] for row in body]), ""]


def _inline_rst(text: str) -> str:
    return _RST_ROLE.sub(r"`\1`", text).replace("``", "`")


def _function_doc(module: Path, name: str) -> str:
    """The first paragraph of the docstring of function ``name`` in ``module``; '' when it has none."""
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return " ".join((ast.get_docstring(node) or "").split("\n\n")[0].split())
    return ""


def _docstring(module: Path) -> str:
    return ast.get_docstring(ast.parse(module.read_text(encoding="utf-8"))) or ""


def _source(paper: str, name: str) -> Path:
    return repo_root() / "repro" / paper / name


def _readme(paper: str) -> Path:
    return repo_root() / "papers" / paper / "README.md"


def _write_page(stem: Path, title: str, text: str) -> list[Path]:
    md, page = stem.with_suffix(".md"), stem.with_suffix(".html")
    atomic_write_text(md, text)
    atomic_write_text(page, to_html(text, title))
    return [md, page]
