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
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate, repeat
from typing import NamedTuple

from bot.tokens.encodings import (
    ENCODINGS,
    EncodingInfo,
    encode_plain,
    get_encoding,
    prepare_text,
    raw_token_bytes,
    token_bytes,
)

_TOKEN_KIND = bytes(ord("c") if 0x80 <= b < 0xC0 else ord("s") for b in range(256))
_PIECE_OF_TOKENS = re.compile(rb"e*sc*|e*c+|e+")
# A special token's name typed as text ("<|eot_id|>"): /tokens notes it, /roles finds typed ones.
# Shapes of special-token names: <|eot_id|> (Llama, ChatML, harmony), [INST] (Mistral), <think>
# and </s>. /tokens notes the first shape only (the others are also ordinary markup: <b>, [NOTE]);
# /roles keeps the matches that are its format's own special tokens.
SPECIAL_LOOKALIKE = re.compile(r"(?P<pipes><\|[^|<>\s]{1,60}\|>)|\[/?[A-Z_]{1,60}\]|</?[a-z_]{1,60}>")
NUMBER = re.compile(r"[0-9]+")  # ASCII digits: one byte each, so every piece of a number is one token
WORD = re.compile(r"[^\W\d_]+")
_SPACE_LETTER = re.compile(r" (?=[^\W\d_])")  # a space before a letter (str.isalpha is checked too)
_ALNUM = re.compile(r"[^\W_]")  # a character for which str.isalnum() is true
CODE_HINT = re.compile(r"[(){}\[\];=]|^\s*(def|class|return|import|function|const|let|var|for|if)\b", re.M)

# Characters that start or continue an emoji (Extended_Pictographic, roughly) and the
# marks that glue a sequence together: ZWJ, variation selector, skin tones, keycap, tags.
_EMOJI_BASE = r"[\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\u3030\u303d\u3297\u3299\U0001F000-\U0001FAFF]"
_EMOJI_MARKS = r"[\ufe0f\u20e3\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F]*"
EMOJI = re.compile(
    r"[\U0001F1E6-\U0001F1FF]{2}"  # a flag: two regional indicators
    rf"|{_EMOJI_BASE}{_EMOJI_MARKS}(?:\u200d{_EMOJI_BASE}{_EMOJI_MARKS})*"
)


# Observations stay short whatever the text: a long word or number is quoted up to QUOTE_CHARS
# characters, and at most MAX_PARTS of its pieces are listed (the rest as a count, "more").
QUOTE_CHARS = 40
MAX_PARTS = 6


class Piece(NamedTuple):
    """One or more tokens that together end on a whole character; start/end are character offsets.

    A named tuple, not a dataclass: a 20,000-character text makes tens of thousands of them."""

    text: str
    ids: tuple[int, ...]
    start: int
    end: int

    @property
    def token_count(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class TokenAnalysis:
    """A text's token ids in one encoding; its tokens' bytes and pieces are worked out when asked.

    A reply in seven encodings needs the pieces of the first one only (its observations) and
    the first few of the others (what is shown): grouping every token of all seven was most of
    a long `modelo:todos` reply's time (issue 16).
    """

    encoding: EncodingInfo
    text: str
    ids: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def characters(self) -> int:
        return len(self.text)

    @property
    def chars_per_token(self) -> float:
        return self.characters / self.count if self.count else 0.0

    @cached_property
    def token_bytes(self) -> tuple[bytes, ...]:
        """Each token's bytes; together they spell the text (bot.tokens.encodings.token_bytes)."""
        return token_bytes(self.encoding.name, self.ids)

    @cached_property
    def pieces(self) -> tuple[Piece, ...]:
        """Every piece of the text, in order (group_pieces)."""
        return tuple(group_pieces(self.ids, self.token_bytes))

    def first_pieces(self, count: int) -> tuple[Piece, ...]:
        """The first `count` pieces (all of them for a text with fewer), grouping only the tokens
        they need: the same pieces as `pieces[:count]`."""
        if "pieces" in self.__dict__ or count >= len(self.ids):
            return self.pieces[:count]
        head = self.__dict__.get("_head", ())  # the first pieces found so far, all whole
        if len(head) >= count:
            return head[:count]
        # A piece is at most a character's 4 bytes in as many tokens, plus an empty token before it.
        end = 5 * count + 8
        while True:
            end = min(end, len(self.ids))
            ids = self.ids[:end]
            found = group_pieces(ids, token_bytes(self.encoding.name, ids))
            if end == len(self.ids):
                self.__dict__["pieces"] = head = tuple(found)
                return head[:count]
            if len(found) > count:  # a later piece started: every piece before the last is whole
                self.__dict__["_head"] = head = tuple(found[:-1])
                return head[:count]
            end *= 2

    def token_texts(self) -> list[str]:
        """Each token on its own, with U+FFFD where it holds only part of a character."""
        return list(map(bytes.decode, self.token_bytes, repeat("utf-8"), repeat("replace")))

    def token_lines(self) -> list[str]:
        """Per token, in order, `"\t<id>\t<text>"`: its id, then its text with whitespace made visible
        on one line (`visible_inline`; U+FFFD where it holds only part of a character).

        Each distinct id is decoded and formatted once (a long text repeats its tokens), and
        every token is then one dictionary lookup: this is the tokens.tsv attachment's
        bulk, a line per token of every encoding.
        """
        if not self.ids:
            return []
        unique = list(dict.fromkeys(self.ids))
        texts = list(map(bytes.decode, raw_token_bytes(self.encoding.name, unique), repeat("utf-8"), repeat("replace")))
        if any("\0" in text for text in texts):  # NUL cannot separate them then
            texts = list(map(visible_inline, texts))
        else:  # one pass over all the texts at once, not four replaces per token
            texts = visible_inline("\0".join(texts)).split("\0")
        line_of = dict(zip(unique, map("\t%d\t%s".__mod__, zip(unique, texts, strict=True)), strict=True))
        lines = list(map(line_of.__getitem__, self.ids))
        first = self.token_bytes[0] if "token_bytes" in self.__dict__ else token_bytes(self.encoding.name, self.ids[:1])[0]
        if first != raw_token_bytes(self.encoding.name, self.ids[:1])[0]:  # SentencePiece's dummy prefix, taken off
            lines[0] = f"\t{self.ids[0]}\t{visible_inline(first.decode('utf-8', 'replace'))}"
        return lines

    @cached_property
    def token_byte_ends(self) -> list[int]:
        return list(accumulate(map(len, self.token_bytes)))

    @cached_property
    def token_byte_starts(self) -> list[int]:
        return [0, *self.token_byte_ends[:-1]] if self.token_bytes else []

    @property
    def token_byte_spans(self) -> list[tuple[int, int]]:
        return list(zip(self.token_byte_starts, self.token_byte_ends, strict=True))

    @cached_property
    def piece_starts(self) -> list[int]:
        return [p.start for p in self.pieces]

    @cached_property
    def piece_byte_starts(self) -> list[int]:
        """Byte offset of each piece (pieces end on whole characters, so these are exact)."""
        first_tokens = accumulate(map(len, (p.ids for p in self.pieces)), initial=0)
        return list(map(self.token_byte_starts.__getitem__, list(first_tokens)[:-1]))

    def piece_at(self, position: int) -> int:
        """Index of the piece holding character `position`."""
        return bisect_right(self.piece_starts, position) - 1

    def byte_offset(self, position: int) -> int:
        """UTF-8 byte offset of character `position` (a search, not a re-encoding of the text before it)."""
        if position >= len(self.text):
            return self.token_byte_ends[-1] if self.token_bytes else 0
        index = self.piece_at(position)
        piece = self.pieces[index]
        return self.piece_byte_starts[index] + len(piece.text[: position - piece.start].encode("utf-8"))


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
    """Encode text (special-token look-alikes as plain characters); the analysis groups its
    pieces when they are asked for.

    The analysis holds the text as the tokenizer saw it: Qwen's NFC form where that differs.
    """
    info = ENCODINGS[get_encoding(encoding_name).name]
    text = prepare_text(info, text)
    return TokenAnalysis(info, text, tuple(encode_plain(info.name, text)))


def group_pieces(ids: Sequence[int], token_bytes: Sequence[bytes]) -> list[Piece]:
    """Join consecutive tokens until their bytes decode to whole characters.

    In valid UTF-8 a character starts on any byte but a continuation byte (0b10xxxxxx), so a
    piece starts at every token whose first byte is not one; a token starting with one belongs
    to the piece before it, and a token with no bytes to the one after it. Linear, and done with
    whole-list operations: a 20,000-character text has tens of thousands of tokens, and this runs
    for each encoding shown.
    """
    count = len(ids)
    if count == 0:
        return []
    joined = b"".join(token_bytes)
    byte_ends = list(accumulate(map(len, token_bytes)))
    byte_starts = [0, *byte_ends[:-1]]
    # One letter per token: "c" when its first byte is a continuation byte, "s" when it starts a
    # character, "e" when it holds no bytes of the text (SentencePiece's "▁" prefix: joins the next).
    if 0 in byte_ends or len(set(byte_ends)) < count:
        kinds = bytes(_TOKEN_KIND[chunk[0]] if chunk else ord("e") for chunk in token_bytes)
    else:
        kinds = bytes(map(joined.__getitem__, byte_starts)).translate(_TOKEN_KIND)
    starts_or_continues = kinds
    if b"c" not in kinds and b"e" not in kinds:  # every token ends on a whole character: one piece each
        texts = list(map(bytes.decode, token_bytes, repeat("utf-8"), repeat("replace")))
        groups: list[tuple[int, ...]] = list(zip(ids))
    else:
        # Whole-list operations here too (map over slices), not a Python loop per piece.
        firsts = list(map(re.Match.start, _PIECE_OF_TOKENS.finditer(starts_or_continues)))
        afters = [*firsts[1:], count]
        byte_slices = map(slice, map(byte_starts.__getitem__, firsts), map(byte_ends.__getitem__, map((-1).__add__, afters)))
        texts = list(map(bytes.decode, map(joined.__getitem__, byte_slices), repeat("utf-8"), repeat("replace")))
        groups = list(map(tuple, map(ids.__getitem__, map(slice, firsts, afters))))
    char_ends = list(accumulate(map(len, texts)))
    char_starts = [0, *char_ends[:-1]]
    return list(map(tuple.__new__, repeat(Piece), zip(texts, groups, char_starts, char_ends, strict=True)))


def visible(text: str) -> str:
    """Whitespace made visible the way tiktokenizer shows it; newlines stay real line breaks."""
    # Three replaces, not str.translate: translate goes character by character in Python's
    # slow path for non-ASCII text (ten times slower on an emoji-heavy text).
    return text.replace(" ", "·").replace("\t", "→").replace("\r", "␍")


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
    """How many tokens hold at least one byte of text[start:end] (characters); a binary search."""
    byte_start, byte_end = analysis.byte_offset(start), analysis.byte_offset(end)
    first = bisect_right(analysis.token_byte_ends, byte_start)  # the first token ending after the start
    last = bisect_left(analysis.token_byte_starts, byte_end) - 1  # the last token starting before the end
    return max(0, last - first + 1)


def quoted(text: str) -> str:
    """text, or its first QUOTE_CHARS - 1 characters and an ellipsis."""
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def listed(parts: Sequence[str]) -> dict[str, object]:
    """{"parts": the first MAX_PARTS parts, quoted, joined by " | "} and, when some were left out,
    {"more": how many} (bot/tokens/command.py says it in the reader's language)."""
    values: dict[str, object] = {"parts": " | ".join(quoted(p) for p in parts[:MAX_PARTS])}
    if len(parts) > MAX_PARTS:
        values["more"] = len(parts) - MAX_PARTS
    return values


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
                {"number": quoted(match.group()), "count": len(parts)} | listed(parts),
            )
        elif (
            len(parts) == 1
            and not whole_shown
            and len(match.group()) > 1
            and analysis.pieces[analysis.piece_at(match.start())].text == match.group()
        ):
            whole_shown = True
            yield Observation("tokens.obs.number_whole", {"number": quoted(match.group())})


def _emoji_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    seen: set[str] = set()
    for match in EMOJI.finditer(analysis.text):
        emoji = match.group()
        if emoji in seen:
            continue
        seen.add(emoji)
        count = tokens_overlapping(analysis, match.start(), match.end())
        key = "tokens.obs.emoji_many" if count > 1 else "tokens.obs.emoji_one"
        yield Observation(key, {"emoji": quoted(emoji), "count": count, "bytes": len(emoji.encode("utf-8"))})
        if len(seen) == 3:
            return


def _split_character_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    """A non-emoji character that needed several tokens (a rare CJK character, say)."""
    emoji_spans = [m.span() for m in EMOJI.finditer(analysis.text)]
    emoji_starts = [s for s, _ in emoji_spans]
    for piece in analysis.pieces:
        if piece.token_count < 2:
            continue
        inside = bisect_right(emoji_starts, piece.start) - 1
        if inside >= 0 and piece.end <= emoji_spans[inside][1]:
            continue  # all of it is one emoji (the emoji observation covers it)
        for offset, char in enumerate(piece.text):
            position = piece.start + offset
            if char.isspace():
                continue
            inside = bisect_right(emoji_starts, position) - 1  # the last emoji starting here or before
            if inside >= 0 and position < emoji_spans[inside][1]:
                continue
            count = tokens_overlapping(analysis, position, position + 1)
            if count > 1:
                yield Observation(
                    "tokens.obs.char_split",
                    {"char": char, "count": count, "bytes": len(char.encode("utf-8"))},
                )
                return


def _word_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    whole: dict[str, None] = {}  # in the order they appear
    split: dict[str, tuple[list[str], bool]] = {}  # word -> its parts, whether a space precedes it
    for match in WORD.finditer(analysis.text):
        word = match.group()
        if word in whole or word in split:
            continue
        parts = pieces_within(analysis, match.start(), match.end())
        spaced = match.start() > 0 and analysis.text[match.start() - 1] == " "
        if len(parts) == 1:
            # A word is "one token" only if its piece holds nothing but the word and maybe a leading space.
            piece = analysis.pieces[analysis.piece_at(match.start())]
            if piece.token_count == 1 and piece.text.strip() == word:
                whole[word] = None
        else:
            split[word] = (parts, spaced)
    if whole:
        longest = set(sorted(whole, key=len, reverse=True)[:3])
        shown = [w for w in whole if w in longest]  # in the order they appear
        yield Observation(
            "tokens.obs.words_whole",
            {"words": ", ".join(f"«{quoted(w)}»" for w in shown), "count": len(shown)},
        )
    for word, (parts, spaced) in sorted(split.items(), key=lambda item: -len(item[0]))[:2]:
        values = {"word": quoted(word), "count": len(parts)} | listed(parts)
        # A common word split only because no space precedes it (at the start of a line, say):
        # the vocabulary has it with its space. Say that, not that the word is rare. (A word longer
        # than any token cannot be one: it is not encoded again.)
        if not spaced and len(word) < QUOTE_CHARS and len(encode_plain(analysis.encoding.name, " " + word)) == 1:
            yield Observation("tokens.obs.word_split_unspaced", values | {"spaced": visible(" " + word)})
        else:
            yield Observation("tokens.obs.word_split", values)


def _leading_space_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    # Candidates are a space before a letter; the first whose piece starts there and is one token.
    for match in _SPACE_LETTER.finditer(analysis.text):
        piece = analysis.pieces[analysis.piece_at(match.start())]
        if piece.start == match.start() and len(piece.ids) == 1 and piece.text[1:2].isalpha():
            yield Observation("tokens.obs.leading_space", {"token": visible(piece.text)})
            return


def _code_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    if len(CODE_HINT.findall(analysis.text)) < 2:
        return
    symbolic_tokens = sum(len(p.ids) for p in analysis.pieces if not _ALNUM.search(p.text))
    if symbolic_tokens >= 3:
        yield Observation("tokens.obs.code", {"symbols": symbolic_tokens, "count": analysis.count})


def _lookalike_observations(analysis: TokenAnalysis) -> Iterable[Observation]:
    for match in SPECIAL_LOOKALIKE.finditer(analysis.text):
        if match.lastgroup != "pipes":
            continue
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
    quote = " ↵ ".join(line.strip() for line in english_text.splitlines())  # a quote fits on one line
    yield Observation(key, {"english": quote, "english_count": english, "spanish_count": spanish})


# --- costs ---------------------------------------------------------------------------


def cost_lines(counts: dict[str, int], models: Iterable) -> list[CostLine]:
    """One line per configured model (settings.tokens.models) whose encoding was counted."""
    return [
        CostLine(m.model, m.encoding, counts[m.encoding], m.context_window, m.usd_per_million_input)
        for m in models
        if m.encoding in counts
    ]
