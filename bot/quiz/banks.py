"""Question banks: YAML files (and Kahoot-style CSV sheets) checked against one schema.

A bank is a file in config/quizzes/ (or imported by an instructor) holding questions.
Every problem found names the file, the question and the field, in the reader's
language, so an instructor can fix a typo without reading Python.

    title: {es: "Sección 2", en: "Section 2"}
    time: 30                       # seconds per question (optional)
    questions:
      - id: tokens-1               # optional, unique in the bank
        type: choice               # the default; "open" questions are for homework
        question: {es: "¿…?", en: "…?"}
        options: [{es: …, en: …}, …]   # two to four
        answer: B                  # a letter, or a list of letters
        time: 20                   # optional
        points: 1000               # optional
        explanation: {es: …, en: …}    # optional, shown when the question closes

Text fields take a plain string or a mapping with `es` and/or `en`.

Scoring and places: a right answer earns `points` (1000 by default); with
`quiz.speed_bonus` it earns round((1 − (t/T)/2) × points), a whole number, so totals are
whole numbers too. Players with the same total share a place (standard competition
ranking: 1, 1, 3), on the leaderboard, in "Mi puesto" and in the export; among them the
list shows first who got more answers right, then who joined first. Two players one point
apart do not tie: the points shown are the points compared.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import yaml

from bot.errors import echo, open_failure
from bot.i18n import t

REPO_ROOT = Path(__file__).resolve().parents[2]
LETTERS = "ABCD"
MIN_OPTIONS, MAX_OPTIONS = 2, 4
MIN_TIME, MAX_TIME = 5, 3600
MAX_POINTS = 100_000
MAX_QUESTION_CHARS = 1000
MAX_OPTION_CHARS = 200
MAX_BANK_BYTES = 1_000_000
BANK_SUFFIXES = (".yaml", ".yml", ".csv")

QUOTED_VALUES = {"value", "found", "id", "error"}  # problem values taken from the file itself

BANK_KEYS = {"title", "description", "time", "points", "questions"}
CHOICE_KEYS = {"id", "type", "question", "options", "answer", "time", "points", "explanation"}
# Homework reads open questions; it may add keys here as it grows.
OPEN_KEYS = {"id", "type", "question", "explanation", "points", "max_length"}


Text = dict[str, str]  # language -> text; at least one of "es", "en"


def localized(text: Text, locale: str) -> str:
    return text.get(locale) or text.get("es") or text.get("en") or ""


@dataclass(frozen=True)
class Question:
    id: str
    type: str  # "choice" or "open"
    text: Text
    options: tuple[Text, ...] = ()
    correct: tuple[int, ...] = ()  # indexes into options
    time: int | None = None
    points: int | None = None
    explanation: Text | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class Bank:
    name: str  # what instructors type: banco:seccion-2
    title: Text
    questions: tuple[Question, ...]
    source: str  # the file it came from
    time: int | None = None
    points: int | None = None

    @property
    def choice_questions(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.type == "choice")

    @property
    def open_questions(self) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if q.type == "open")


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a bank. question is 1-based (None for the whole file)."""

    file: str
    question: int | None
    field: str
    key: str  # message key in bot/locales/quiz.yaml
    values: dict[str, Any] = field(default_factory=dict)
    line: int | None = None

    def describe(self, locale: str) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(t(locale, "quiz.schema.at_line", line=self.line))
        if self.question is not None:
            where.append(t(locale, "quiz.schema.at_question", number=self.question))
        if self.field:
            where.append(t(locale, "quiz.schema.at_field", field=self.field))
        return ", ".join(where) + ": " + t(locale, self.key, **self.values)


class BankError(ValueError):
    """A bank that does not follow the schema; problems lists every finding."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.describe("en") for p in problems))
        self.problems = problems

    def describe(self, locale: str, limit: int = 20) -> list[str]:
        lines = [p.describe(locale) for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(t(locale, "quiz.schema.more", count=len(self.problems) - limit))
        return lines


def bank_name(filename: str) -> str:
    """'Quiz Tokens.csv' -> 'quiz-tokens': what instructors type and autocomplete shows."""
    stem = Path(filename).name
    for suffix in BANK_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    slug = re.sub(r"[^a-z0-9ñáéíóúü]+", "-", stem.lower()).strip("-")
    return slug[:60] or "banco"


def parse_bank(data: bytes | str, filename: str) -> Bank:
    """A bank from a file's content; the extension picks YAML or CSV. Raises BankError."""
    if isinstance(data, bytes):
        if len(data) > MAX_BANK_BYTES:
            raise BankError([Problem(filename, None, "", "quiz.schema.too_big", {"limit": MAX_BANK_BYTES})])
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BankError([Problem(filename, None, "", "quiz.schema.not_utf8")]) from None
    suffix = Path(filename).suffix.lower()
    if suffix == ".csv":
        return _parse_csv(data, filename)
    if suffix in (".yaml", ".yml"):
        return _parse_yaml(data, filename)
    raise BankError(
        [Problem(filename, None, "", "quiz.schema.bad_extension", {"allowed": ", ".join(BANK_SUFFIXES)})]
    )


async def parse_bank_off_loop(data: bytes | str, filename: str) -> Bank:
    """parse_bank in a worker thread: a large bank takes a while to read, and the class's other
    requests must not wait for it. Raises BankError."""
    return await asyncio.to_thread(parse_bank, data, filename)


def load_bank_file(path: str | Path) -> Bank:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        why = open_failure(exc)  # a missing file or a folder named, said as such, not as an OS errno text
        key = "quiz.schema.unreadable" if why == "unreadable" else f"quiz.schema.{why}"
        raise BankError([Problem(str(path), None, "", key, {"error": exc.strerror})]) from None
    return parse_bank(data, str(path))


def bank_dirs(banks_dir: str) -> list[Path]:
    """Where bank files live: the configured folder, and the repository's own when run elsewhere."""
    configured = Path(banks_dir)
    if configured.is_absolute():
        return [configured]
    found = [configured, REPO_ROOT / configured]
    unique: list[Path] = []
    for folder in found:
        if folder.is_dir() and all(folder.resolve() != u.resolve() for u in unique):
            unique.append(folder)
    return unique


def bank_files(banks_dir: str) -> dict[str, Path]:
    """Bank name -> file; a folder listed first wins a name both have."""
    files: dict[str, Path] = {}
    for folder in bank_dirs(banks_dir):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in BANK_SUFFIXES and path.is_file():
                files.setdefault(bank_name(path.name), path)
    return files


_file_cache: dict[Path, tuple[float, Bank | BankError]] = {}


def cached_bank_file(path: Path) -> Bank:
    """load_bank_file, re-read only when the file changed (autocomplete asks on every keystroke)."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return load_bank_file(path)
    cached = _file_cache.get(path)
    if cached is None or cached[0] != mtime:
        try:
            result: Bank | BankError = load_bank_file(path)
        except BankError as exc:
            result = exc
        cached = (mtime, result)
        _file_cache[path] = cached
    if isinstance(cached[1], BankError):
        raise cached[1]
    return cached[1]


# --- YAML -------------------------------------------------------------------------------


class _BankLoader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """Every plain scalar is the text as written. YAML 1.1 would resolve `3.10` to the float
    3.1, `no`/`Off` to booleans, `010` to 8, `1:30` to 90, `~` to null and `2026-03-29` to a
    date: an option list [3.10, 3.9, 3.11] would show "A) 3.1". Numbers a bank needs (time,
    points) are read from their text by the checker; an empty value is "" (missing).
    libyaml's parser when present (the resolver is Python's either way)."""


_BankLoader.yaml_implicit_resolvers = {}  # no implicit types: plain scalars are str

# Parser events (one per scalar, mapping and sequence start/end...) a bank may hold. The
# course's bank has about 2,000; a 1 MB bank of short questions about 60,000.
MAX_YAML_EVENTS = 250_000


def _plain_yaml(text: str, filename: str) -> None:
    """Raise BankError for anchors and aliases (`&a`, `*a`), before any object is built.

    An alias repeats a whole subtree without repeating its text: a few hundred bytes of
    nested aliases ("billion laughs") expand to billions of nodes, which took 181 s and
    8.5 GB before ending in MemoryError. No bank needs them, so they are refused here,
    from parser events, which never expand anything; the event count is capped too.
    """
    count = 0
    for event in yaml.parse(text, Loader=_BankLoader):
        count += 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            line = event.start_mark.line + 1 if event.start_mark is not None else None
            raise BankError([Problem(filename, None, "", "quiz.schema.yaml_alias", {}, line)])
        if count > MAX_YAML_EVENTS:
            raise BankError([Problem(filename, None, "", "quiz.schema.too_many_nodes", {"limit": MAX_YAML_EVENTS})])


def _parse_yaml(text: str, filename: str) -> Bank:
    try:
        _plain_yaml(text, filename)
        data = yaml.load(text, Loader=_BankLoader)  # a SafeLoader: builds plain data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise BankError(
            [Problem(filename, None, "", "quiz.schema.bad_yaml", {"error": echo(problem)}, line)]
        ) from None
    return bank_from_data(data, filename)


def bank_from_data(data: Any, filename: str) -> Bank:
    """Validate already-parsed data (a YAML document) and build the Bank."""
    checker = _Checker(filename)
    if not isinstance(data, dict):
        checker.add(None, "", "quiz.schema.not_a_mapping")
        raise BankError(checker.problems)
    for key in sorted(set(data) - BANK_KEYS, key=str):
        checker.add(None, str(key), "quiz.schema.unknown_key", allowed=", ".join(sorted(BANK_KEYS)))
    title = checker.text(None, "title", data.get("title"), MAX_QUESTION_CHARS, required=False)
    time = checker.integer(None, "time", data.get("time"), MIN_TIME, MAX_TIME)
    points = checker.integer(None, "points", data.get("points"), 0, MAX_POINTS)
    raw_questions = data.get("questions")
    questions: list[Question] = []
    if not isinstance(raw_questions, list) or not raw_questions:
        checker.add(None, "questions", "quiz.schema.no_questions")
    else:
        seen_ids: set[str] = set()
        for number, raw in enumerate(raw_questions, start=1):
            question = checker.question(number, raw, seen_ids)
            if question is not None:
                questions.append(question)
    if checker.problems:
        raise BankError(checker.problems)
    name = bank_name(filename)
    return Bank(
        name=name,
        title=title or {"es": name},
        questions=tuple(questions),
        source=filename,
        time=time,
        points=points,
    )


def _quoted(value: Any) -> str:
    """A value from the file as a problem quotes it: a scalar cut short, a list or mapping by
    its brackets alone (turning a nested structure into text could take any time and memory)."""
    if isinstance(value, list):
        return "[…]"
    if isinstance(value, dict):
        return "{…}"
    return echo(value)


class _Checker:
    """Collects every problem in one pass instead of stopping at the first."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        self.line: int | None = None  # CSV: the row being read

    def add(self, question: int | None, field_name: str, key: str, **values: Any) -> None:
        # What the file holds is quoted short: a value may be a whole nested structure.
        quoted = {name: _quoted(v) if name in QUOTED_VALUES else v for name, v in values.items()}
        self.problems.append(Problem(self.filename, question, field_name, key, quoted, self.line))

    def text(
        self, question: int | None, name: str, value: Any, limit: int, required: bool = True
    ) -> Text | None:
        if value is None or value == "":
            if required:
                self.add(question, name, "quiz.schema.required")
            return None
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            texts = {"es": str(value).strip()}
        elif isinstance(value, dict):
            unknown = [str(k) for k in value if k not in ("es", "en")]
            if unknown:
                self.add(question, name, "quiz.schema.bad_language", found=", ".join(unknown))
                return None
            if not all(isinstance(v, (str, int, float)) for v in value.values()):
                self.add(question, name, "quiz.schema.not_text")
                return None
            texts = {k: str(v).strip() for k, v in value.items() if str(v).strip()}
        else:
            self.add(question, name, "quiz.schema.not_text")
            return None
        if not texts or not any(texts.values()):
            self.add(question, name, "quiz.schema.required")
            return None
        longest = max(len(v) for v in texts.values())
        if longest > limit:
            self.add(question, name, "quiz.schema.too_long", length=longest, limit=limit)
        return texts

    def integer(self, question: int | None, name: str, value: Any, low: int, high: int) -> int | None:
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(question, name, "quiz.schema.not_integer", value=value)
            return None
        if not low <= value <= high:
            self.add(question, name, "quiz.schema.out_of_range", value=value, low=low, high=high)
            return None
        return value

    def question(self, number: int, raw: Any, seen_ids: set[str]) -> Question | None:
        if not isinstance(raw, dict):
            self.add(number, "", "quiz.schema.question_not_mapping")
            return None
        kind = raw.get("type", "choice")
        if kind not in ("choice", "open"):
            self.add(number, "type", "quiz.schema.bad_type", value=kind)
            return None
        allowed = CHOICE_KEYS if kind == "choice" else OPEN_KEYS
        for key in sorted(set(raw) - allowed, key=str):
            self.add(number, str(key), "quiz.schema.unknown_key", allowed=", ".join(sorted(allowed)))
        before = len(self.problems)
        question_id = str(raw.get("id") or f"q{number}").strip()
        if question_id in seen_ids:
            self.add(number, "id", "quiz.schema.duplicate_id", id=question_id)
        seen_ids.add(question_id)
        text = self.text(number, "question", raw.get("question"), MAX_QUESTION_CHARS)
        explanation = self.text(
            number, "explanation", raw.get("explanation"), MAX_QUESTION_CHARS, required=False
        )
        points = self.integer(number, "points", raw.get("points"), 0, MAX_POINTS)
        if kind == "open":
            max_length = self.integer(number, "max_length", raw.get("max_length"), 1, 20_000)
            if len(self.problems) > before or text is None:
                return None
            return Question(
                question_id, "open", text, explanation=explanation, points=points, max_length=max_length
            )

        time = self.integer(number, "time", raw.get("time"), MIN_TIME, MAX_TIME)
        options = self.options(number, raw.get("options"))
        correct = self.answer(number, raw.get("answer"), len(options) if options else MAX_OPTIONS)
        if len(self.problems) > before or text is None or not options or not correct:
            return None
        return Question(question_id, "choice", text, options, correct, time, points, explanation)

    def options(self, number: int, raw: Any) -> tuple[Text, ...] | None:
        if not isinstance(raw, list):
            self.add(
                number, "options", "quiz.schema.options_count", low=MIN_OPTIONS, high=MAX_OPTIONS, count=0
            )
            return None
        if not MIN_OPTIONS <= len(raw) <= MAX_OPTIONS:
            self.add(
                number,
                "options",
                "quiz.schema.options_count",
                low=MIN_OPTIONS,
                high=MAX_OPTIONS,
                count=len(raw),
            )
            return None
        options = [
            self.text(number, f"options[{LETTERS[i]}]", o, MAX_OPTION_CHARS) for i, o in enumerate(raw)
        ]
        if any(o is None for o in options):
            return None
        # Two options a student cannot tell apart (same text once trimmed, any case), per language.
        duplicated = False
        for lang in ("es", "en"):
            seen: dict[str, int] = {}
            for index, option in enumerate(options):
                shown = " ".join(localized(option, lang).split()).casefold()
                if shown in seen:
                    self.add(
                        number,
                        f"options[{LETTERS[index]}]",
                        "quiz.schema.duplicate_option",
                        value=localized(option, lang),
                        other=LETTERS[seen[shown]],
                    )
                    duplicated = True
                    break
                seen[shown] = index
            if duplicated:
                return None
        return tuple(o for o in options if o is not None)

    def answer(self, number: int, raw: Any, option_count: int) -> tuple[int, ...] | None:
        if raw is None or raw == "" or raw == []:
            self.add(number, "answer", "quiz.schema.required")
            return None
        items = raw if isinstance(raw, list) else re.split(r"[,;\s]+", str(raw).strip())
        correct: list[int] = []
        for item in items:
            index = _answer_index(item)
            if index is None or index >= option_count:
                self.add(
                    number,
                    "answer",
                    "quiz.schema.bad_answer",
                    value=item,
                    letters=", ".join(LETTERS[:option_count]),
                )
                return None
            if index in correct:
                self.add(number, "answer", "quiz.schema.duplicate_answer", value=item)
                return None
            correct.append(index)
        return tuple(sorted(correct))


def _answer_index(item: Any) -> int | None:
    """'B' or 'b' -> 1; 2 or '2' (Kahoot's 1-based numbers) -> 1."""
    if isinstance(item, bool):
        return None
    text = str(item).strip().upper()
    if len(text) == 1 and text in LETTERS:
        return LETTERS.index(text)
    if text.isdigit() and 1 <= int(text) <= MAX_OPTIONS:
        return int(text) - 1
    return None


# --- CSV (Kahoot's spreadsheet layout) ---------------------------------------------------

# Kahoot's template columns: Question, Answer 1..4, Time limit (sec), Correct answer(s).
_COLUMN_PATTERNS = {
    "question": re.compile(r"^(question|pregunta)"),
    "answer": re.compile(r"^(correct|correcta|respuesta correcta|answer$|respuesta$)"),
    "time": re.compile(r"^(time|tiempo)"),
    "option": re.compile(r"^(answer|respuesta|option|opci[oó]n)\s*(\d)"),
}
_POSITIONAL = ("question", "option1", "option2", "option3", "option4", "time", "answer")
HEADER_SEARCH_ROWS = 10


def _parse_csv(text: str, filename: str) -> Bank:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    checker = _Checker(filename)
    try:
        rows = [(line, [c.strip() for c in row]) for line, row in _numbered_rows(text, dialect) if any(row)]
    except csv.Error as exc:
        checker.add(None, "", "quiz.schema.bad_csv", error=str(exc))
        raise BankError(checker.problems) from None
    # Kahoot's template has title rows above its header; without any header, columns go in its order.
    columns: dict[str, int] = {name: index for index, name in enumerate(_POSITIONAL)}
    for index, (_, cells) in enumerate(rows[:HEADER_SEARCH_ROWS]):
        header = _header_columns(cells)
        if header:
            columns, rows = header, rows[index + 1 :]
            break
    questions: list[Question] = []
    for number, (line, cells) in enumerate(rows, start=1):
        checker.line = line
        question = _csv_question(checker, number, cells, columns)
        if question is not None:
            questions.append(question)
    checker.line = None
    if not rows:
        checker.add(None, "", "quiz.schema.no_questions")
    if checker.problems:
        raise BankError(checker.problems)
    name = bank_name(filename)
    return Bank(name=name, title={"es": name}, questions=tuple(questions), source=filename)


def _numbered_rows(text: str, dialect) -> list[tuple[int, list[str]]]:
    """(line number where the row starts, cells) for each CSV row."""
    reader = csv.reader(io.StringIO(text), dialect)
    rows, line = [], 1
    for row in reader:
        rows.append((line, row))
        line = reader.line_num + 1
    return rows


def _header_columns(cells: list[str]) -> dict[str, int]:
    """Column name -> index when cells is a header row (Kahoot's or ours), else {}."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        label = cell.lower()
        option = _COLUMN_PATTERNS["option"].match(label)
        if option and "correct" not in label and "correcta" not in label:
            columns.setdefault(f"option{option.group(2)}", index)
            continue
        for name in ("question", "answer", "time"):
            if _COLUMN_PATTERNS[name].match(label):
                columns.setdefault(name, index)
                break
    return columns if "question" in columns and "option1" in columns else {}


def _csv_question(
    checker: _Checker, number: int, cells: list[str], columns: dict[str, int]
) -> Question | None:
    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index] if index is not None and index < len(cells) else ""

    options = [cell(f"option{i}") for i in range(1, MAX_OPTIONS + 1)]
    # Kahoot allows blank third and fourth answers; a gap before a filled one would shift letters.
    while options and not options[-1]:
        options.pop()
    raw = {"question": cell("question"), "options": options, "answer": cell("answer")}
    if cell("time"):
        raw["time"] = cell("time")
    return checker.question(number, raw, set())


# --- where banks come from: files and instructors' imports ------------------------------


Owner = tuple[str, str]  # the class a bank belongs to: (platform, workspace_id)


def class_of(place) -> Owner:
    """The class of a request's place (a Discord guild, a Slack team, the console)."""
    return (place.platform, place.workspace_id)


class ImportedBanks(Protocol):
    async def imported_banks(self, owner: Owner | None = None) -> list[tuple[Owner, str, str, bytes]]: ...

    async def imported_bank(self, owner: Owner, name: str) -> tuple[str, bytes] | None: ...


@dataclass(frozen=True)
class BankEntry:
    name: str
    source: str  # a file path, or "import:<filename>" ("import:<platform>:<class>:<filename>" across classes)
    bank: Bank | None
    error: BankError | None


class BankCatalog:
    """The banks a class can use: the files shipped in the banks folder(s), the same for
    every class, and the class's own imports. A shipped bank wins its name: an import
    never replaces it (imports of a shipped name are refused, see `shipped`), and one
    class's imports are invisible to every other class."""

    def __init__(self, banks_dir: str, imported: ImportedBanks) -> None:
        self.banks_dir = banks_dir
        self.imported = imported

    def shipped(self, name: str) -> bool:
        """True if name is a bank file shipped with this installation."""
        return name in bank_files(self.banks_dir)

    async def entries(self, owner: Owner | None = None) -> list[BankEntry]:
        """The class's banks (owner None: the files and every class's imports, for the CLI)."""
        found: dict[tuple[str, str], BankEntry] = {}
        files = bank_files(self.banks_dir)
        for name, path in files.items():
            found[(name, "")] = _entry(name, str(path), lambda p=path: cached_bank_file(p))
        for (platform, workspace), name, filename, content in await self.imported.imported_banks(owner):
            if name in files:
                continue
            source = f"import:{filename}" if owner is not None else f"import:{platform}:{workspace}:{filename}"
            found[(name, source)] = _entry(name, source, lambda c=content, f=filename: parse_bank(c, f))
        return [found[key] for key in sorted(found)]

    async def names(self, owner: Owner) -> list[str]:
        """What the class can type in banco: (its imports and the shipped banks), sorted."""
        imported = [name for _, name, _, _ in await self.imported.imported_banks(owner)]
        return sorted(set(bank_files(self.banks_dir)) | set(imported))

    async def get(self, name: str, owner: Owner) -> Bank | None:
        """The bank called name for this class, None if there is none; raises BankError if it is invalid."""
        path = bank_files(self.banks_dir).get(name)
        if path is not None:
            return await asyncio.to_thread(cached_bank_file, path)
        stored = await self.imported.imported_bank(owner, name)
        if stored is None:
            return None
        filename, content = stored
        return _renamed(await parse_bank_off_loop(content, filename), name)


def _entry(name: str, source: str, load) -> BankEntry:
    try:
        return BankEntry(name, source, _renamed(load(), name), None)
    except BankError as exc:
        return BankEntry(name, source, None, exc)


def _renamed(bank: Bank, name: str) -> Bank:
    return bank if bank.name == name else replace(bank, name=name)
