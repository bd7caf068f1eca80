"""What a text looks like to a tokenizer: pieces, observations and costs, with no platform or language.

`analyze` encodes a text with one of the verified encodings and groups its tokens
into pieces that each end on a whole character (an emoji split over three tokens is
one piece of three tokens, as tiktokenizer shows it). `observations` points out what
the course wants students to notice, as message keys with values, computed from the
actual tokens so it can never state a wrong count. `cost_lines` turns counts into
each configured model's context share and input price.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from bot.tokens.encodings import (
    ENCODINGS,
    EncodingInfo,
    encode_plain,
    get_encoding,
    prepare_text,
    token_bytes,
)

VISIBLE_WHITESPACE = str.maketrans({" ": "·", "\t": "→", "\r": "␍"})
SPECIAL_LOOKALIKE = re.compile(r"<\|[^|<>\s]{1,60}\|>")
NUMBER = re.compile(r"[0-9]+")  # ASCII digits: one byte each, so every piece of a number is one token
WORD = re.compile(r"[^\W\d_]+")
CODE_HINT = re.compile(r"[(){}\[\];=]|^\s*(def|class|return|import|function|const|let|var|for|if)\b", re.M)

# Characters that start or continue an emoji (Extended_Pictographic, roughly) and the
# marks that glue a sequence together: ZWJ, variation selector, skin tones, keycap, tags.
_EMOJI_BASE = r"[\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\u3030\u303d\u3297\u3299\U0001F000-\U0001FAFF]"
_EMOJI_MARKS = r"[\ufe0f\u20e3\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F]*"
EMOJI = re.compile(
    r"[\U0001F1E6-\U0001F1FF]{2}"  # a flag: two regional indicators
    rf"|{_EMOJI_BASE}{_EMOJI_MARKS}(?:\u200d{_EMOJI_BASE}{_EMOJI_MARKS})*"
)


@dataclass(frozen=True)
class Piece:
    """One or more tokens that together end on a whole character; start/end are character offsets."""

    text: str
    ids: tuple[int, ...]
    start: int
    end: int

    @property
    def token_count(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class TokenAnalysis:
    encoding: EncodingInfo
    text: str
    ids: tuple[int, ...]
    pieces: tuple[Piece, ...]
    token_bytes: tuple[bytes, ...] = field(repr=False)

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def characters(self) -> int:
        return len(self.text)

    @property
    def chars_per_token(self) -> float:
        return self.characters / self.count if self.count else 0.0

    def token_texts(self) -> list[str]:
        """Each token on its own, with U+FFFD where it holds only part of a character."""
        return [b.decode("utf-8", errors="replace") for b in self.token_bytes]

    @cached_property
    def token_byte_spans(self) -> list[tuple[int, int]]:
        spans, offset = [], 0
        for chunk in self.token_bytes:
            spans.append((offset, offset + len(chunk)))
            offset += len(chunk)
        return spans

    @cached_property
    def piece_starts(self) -> list[int]:
        return [p.start for p in self.pieces]

    def piece_at(self, position: int) -> int:
        """Index of the piece holding character `position`."""
        return bisect_right(self.piece_starts, position) - 1


@dataclass(frozen=True)
class Observation:
    """Something worth noticing: a message key in bot/locales/tokens.yaml and its values."""

    key: str
    values: dict[str, object]


@dataclass(frozen=True)
class CostLine:
    model: str
    encoding: str
    tokens: int
    context_window: int
    usd_per_million_input: float

    @property
    def share(self) -> float:
        """Fraction of the context window the text takes (may exceed 1)."""
        return self.tokens / self.context_window

    @property
    def usd(self) -> float:
        return self.tokens * self.usd_per_million_input / 1_000_000

    @property
    def fits(self) -> bool:
        return self.tokens <= self.context_window


def analyze(text: str, encoding_name: str) -> TokenAnalysis:
    """Encode text (special-token look-alikes as plain characters) and group it into pieces.

    The analysis holds the text as the tokenizer saw it: Qwen's NFC form where that differs.
    """
    info = ENCODINGS[get_encoding(encoding_name).name]
    text = prepare_text(info, text)
    ids = encode_plain(info.name, text)
    chunks = token_bytes(info.name, ids)
    return TokenAnalysis(info, text, tuple(ids), tuple(group_pieces(ids, chunks)), chunks)


def group_pieces(ids: Sequence[int], token_bytes: Sequence[bytes]) -> list[Piece]:
    """Join consecutive tokens until their bytes decode to whole characters.

    A buffer that starts on a character boundary and decodes strictly also ends on one,
    so each piece is the shortest run of tokens that a person can read.
    """
    pieces: list[Piece] = []
    buffer = b""
    group: list[int] = []
    start = 0
    for token_id, chunk in zip(ids, token_bytes, strict=True):
        buffer += chunk
        group.append(token_id)
        try:
            text = buffer.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not text:  # a token with no bytes of the text (SentencePiece's "▁" prefix) joins the next
            continue
        pieces.append(Piece(text, tuple(group), start, start + len(text)))
        start += len(text)
        buffer, group = b"", []
    if group:  # only reachable for bytes that are not UTF-8, which encode() never produces
        text = buffer.decode("utf-8", errors="replace")
        pieces.append(Piece(text, tuple(group), start, start + len(text)))
    return pieces


def visible(text: str) -> str:
    """Whitespace made visible the way tiktokenizer shows it; newlines stay real line breaks."""
    return text.translate(VISIBLE_WHITESPACE)


def visible_inline(text: str) -> str:
    """Whitespace made visible on one line: newlines become ↵ too."""
    return visible(text).replace("\n", "↵")


# --- observations -------------------------------------------------------------------


def observations(analysis: TokenAnalysis, translation: tuple[str, str] | None = None) -> list[Observation]:
    """What the course wants noticed in this text, from its actual tokens.

    translation: (text in the other language, "en" or "es") when the text is one of the
    course's examples, to compare the cost of the same meaning in both languages.
    """
    found: list[Observation] = []
    found.extend(_number_observations(analysis))
    found.extend(_emoji_observations(analysis))
    found.extend(_split_character_observations(analysis))
    found.extend(_word_observations(analysis))
    found.extend(_leading_space_observations(analysis))
    found.extend(_code_observations(analysis))
    found.extend(_lookalike_observations(analysis))
    if translation is not None:
        found.extend(_language_observations(analysis, *translation))
    return found


def pieces_within(analysis: TokenAnalysis, start: int, end: int) -> list[str]:
    """The parts of text[start:end] that fall in each piece overlapping it, in order."""
    first, last = analysis.piece_at(start), analysis.piece_at(end - 1)
    return [analysis.text[max(p.start, start) : min(p.end, end)] for p in analysis.pieces[first : last + 1]]


def tokens_overlapping(analysis: TokenAnalysis, start: int, end: int) -> int:
    """How many tokens hold at least one byte of text[start:end] (characters)."""
    byte_start = len(analysis.text[:start].encode("utf-8"))
    byte_end = byte_start + len(analysis.text[start:end].encode("utf-8"))
    return sum(1 for s, e in analysis.token_byte_spans if s < byte_end and e > byte_start)


def _number_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    numbers = sorted(NUMBER.finditer(analysis.text), key=lambda m: -len(m.group()))
    split_shown = whole_shown = False
    for match in numbers:
        parts = pieces_within(analysis, match.start(), match.end())
        if len(parts) > 1 and not split_shown:
            split_shown = True
            grouped = len(match.group()) > 3 and all(len(p) <= 3 and p.isdigit() for p in parts)
            yield Observation(
                "tokens.obs.number_groups" if grouped else "tokens.obs.number_split",
                {"number": match.group(), "count": len(parts), "parts": " | ".join(parts)},
            )
        elif (
            len(parts) == 1
            and not whole_shown
            and len(match.group()) > 1
            and analysis.pieces[analysis.piece_at(match.start())].text == match.group()
        ):
            whole_shown = True
            yield Observation("tokens.obs.number_whole", {"number": match.group()})


def _emoji_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    seen: set[str] = set()
    for match in EMOJI.finditer(analysis.text):
        emoji = match.group()
        if emoji in seen:
            continue
        seen.add(emoji)
        count = tokens_overlapping(analysis, match.start(), match.end())
        key = "tokens.obs.emoji_many" if count > 1 else "tokens.obs.emoji_one"
        yield Observation(key, {"emoji": emoji, "count": count, "bytes": len(emoji.encode("utf-8"))})
        if len(seen) == 3:
            return


def _split_character_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    """A non-emoji character that needed several tokens (a rare CJK character, say)."""
    emoji_spans = [m.span() for m in EMOJI.finditer(analysis.text)]
    for piece in analysis.pieces:
        if piece.token_count < 2:
            continue
        for offset, char in enumerate(piece.text):
            position = piece.start + offset
            if char.isspace() or any(s <= position < e for s, e in emoji_spans):
                continue
            count = tokens_overlapping(analysis, position, position + 1)
            if count > 1:
                yield Observation(
                    "tokens.obs.char_split",
                    {"char": char, "count": count, "bytes": len(char.encode("utf-8"))},
                )
                return


def _word_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    whole: list[str] = []
    split: list[tuple[str, list[str], bool]] = []  # word, its parts, whether a space precedes it
    for match in WORD.finditer(analysis.text):
        word = match.group()
        parts = pieces_within(analysis, match.start(), match.end())
        spaced = match.start() > 0 and analysis.text[match.start() - 1] == " "
        if len(parts) == 1:
            # A word is "one token" only if its piece holds nothing but the word and maybe a leading space.
            piece = analysis.pieces[analysis.piece_at(match.start())]
            if piece.token_count == 1 and piece.text.strip() == word and word not in whole:
                whole.append(word)
        elif all(w != word for w, _, _ in split):
            split.append((word, parts, spaced))
    if whole:
        longest = set(sorted(whole, key=len, reverse=True)[:3])
        shown = [w for w in whole if w in longest]  # in the order they appear
        yield Observation(
            "tokens.obs.words_whole",
            {"words": ", ".join(f"«{w}»" for w in shown), "count": len(shown)},
        )
    for word, parts, spaced in sorted(split, key=lambda item: -len(item[0]))[:2]:
        values = {"word": word, "count": len(parts), "parts": " | ".join(parts)}
        # A common word split only because no space precedes it (at the start of a line, say):
        # the vocabulary has it with its space. Say that, not that the word is rare.
        if not spaced and len(encode_plain(analysis.encoding.name, " " + word)) == 1:
            yield Observation("tokens.obs.word_split_unspaced", values | {"spaced": visible(" " + word)})
        else:
            yield Observation("tokens.obs.word_split", values)


def _leading_space_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    for piece in analysis.pieces:
        if (
            piece.token_count == 1
            and len(piece.text) > 1
            and piece.text[0] == " "
            and piece.text[1].isalpha()
        ):
            yield Observation("tokens.obs.leading_space", {"token": visible(piece.text)})
            return


def _code_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    if len(CODE_HINT.findall(analysis.text)) < 2:
        return
    symbolic = [p for p in analysis.pieces if not any(c.isalnum() for c in p.text)]
    symbolic_tokens = sum(p.token_count for p in symbolic)
    if symbolic_tokens >= 3:
        yield Observation("tokens.obs.code", {"symbols": symbolic_tokens, "count": analysis.count})


def _lookalike_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    for match in SPECIAL_LOOKALIKE.finditer(analysis.text):
        count = tokens_overlapping(analysis, match.start(), match.end())
        yield Observation("tokens.obs.special_lookalike", {"text": match.group(), "count": count})
        return


def _language_observations(
    analysis: TokenAnalysis, other_text: str, other_language: str
) -> Iterable[Observation]:
    other_count = len(encode_plain(analysis.encoding.name, other_text))
    if other_language == "en":
        spanish, english, english_text = analysis.count, other_count, other_text
    else:
        spanish, english, english_text = other_count, analysis.count, analysis.text
    key = "tokens.obs.spanish_costs_more" if spanish > english else "tokens.obs.spanish_costs_same"
    quoted = " ↵ ".join(line.strip() for line in english_text.splitlines())  # a quote fits on one line
    yield Observation(key, {"english": quoted, "english_count": english, "spanish_count": spanish})


# --- costs ---------------------------------------------------------------------------


def cost_lines(counts: dict[str, int], models: Iterable) -> list[CostLine]:
    """One line per configured model (settings.tokens.models) whose encoding was counted."""
    return [
        CostLine(m.model, m.encoding, counts[m.encoding], m.context_window, m.usd_per_million_input)
        for m in models
        if m.encoding in counts
    ]
