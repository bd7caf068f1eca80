"""Platform limits, in one place, and the splitting that keeps every send within them.

Numbers from Discord's and Slack's API documentation. A reply that would exceed a
limit is split across messages or attached as a file, never sent to fail.
"""

from __future__ import annotations

# Discord
DISCORD_CONTENT = 2000  # characters of message content
DISCORD_EMBED_DESCRIPTION = 4096
DISCORD_EMBED_TITLE = 256
DISCORD_EMBED_FIELDS = 25
DISCORD_EMBED_FIELD_NAME = 256
DISCORD_EMBED_FIELD_VALUE = 1024
DISCORD_EMBEDS_TOTAL = 6000  # all embeds of one message together
DISCORD_EMBEDS_PER_MESSAGE = 10
DISCORD_FILES_PER_MESSAGE = 10
DISCORD_BUTTONS_PER_ROW = 5
DISCORD_ROWS_PER_MESSAGE = 5
DISCORD_BUTTON_LABEL = 80
DISCORD_CUSTOM_ID = 100
DISCORD_MODAL_TITLE = 45
DISCORD_MODAL_INPUTS = 5
DISCORD_TEXT_INPUT_LABEL = 45
DISCORD_TEXT_INPUT_VALUE = 4000
DISCORD_AUTOCOMPLETE_CHOICES = 25
DISCORD_FOLLOWUP_WINDOW_S = 15 * 60

# Slack
SLACK_BLOCKS_PER_MESSAGE = 50
SLACK_BLOCKS_PER_MODAL = 100
# The text of all blocks of one message together: past it chat.postMessage/chat.update answer
# msg_blocks_too_long, however few blocks there are (slackapi/bolt-js#2509: refused from about
# 13,200 characters of markdown blocks, and less once other blocks are added; Slack staff quote
# "12,000 text characters with a buffer"; not in the Block Kit reference). Replies keep a margin
# below it, since Slack does not say exactly what it counts.
SLACK_BLOCKS_TEXT_TOTAL = 12000
SLACK_BLOCKS_TEXT_BUDGET = 11000
SLACK_SECTION_TEXT = 3000
SLACK_HEADER_TEXT = 150
SLACK_MESSAGE_TEXT = 40000  # the top-level `text` fallback
SLACK_ACTIONS_ELEMENTS = 25
SLACK_BUTTON_TEXT = 75
SLACK_ACTION_ID = 255
SLACK_MODAL_TITLE = 24
SLACK_INPUT_LABEL = 2000
SLACK_PLAIN_INPUT_MAX = 3000
SLACK_ACK_DEADLINE_S = 3.0
SLACK_SECTION_FIELDS = 10
SLACK_SECTION_FIELD_TEXT = 2000
SLACK_MODAL_BUTTON_TEXT = 24  # a modal's submit and close labels
SLACK_PLACEHOLDER_TEXT = 150
SLACK_EDIT_INTERVAL_S = 1.0  # chat.update: about one edit per second per message
SLACK_RESPONSE_URL_USES = 5  # a response_url accepts five posts within 30 minutes


def split_text(text: str, limit: int) -> list[str]:
    """Split text into chunks of at most `limit` characters, preferring line, then word boundaries."""
    if limit < 1:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        chunks.append(rest[:cut])
        rest = rest[cut:]
        if rest.startswith("\n"):
            rest = rest[1:]
    if rest or not chunks:
        chunks.append(rest)
    return chunks


def split_code(text: str, limit: int, fence: str = "```", language: str = "") -> list[str]:
    """Split text that goes inside a code fence so every chunk, fence included, fits `limit`."""
    overhead = len(fence) * 2 + len(language) + 2  # ```lang\n ... \n```
    body_limit = limit - overhead
    return [f"{fence}{language}\n{chunk}\n{fence}" for chunk in split_text(text, body_limit)]


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(ellipsis))] + ellipsis


def cut_at_word(text: str, limit: int, ellipsis: str = "…") -> tuple[str, str]:
    """(head, rest): `head` fits `limit` with the ellipsis, cut after the last whole word (at a
    character only when one word alone is longer than half the room); `rest` is what it left
    out, from the next word. The whole text and "" when it fits."""
    if len(text) <= limit:
        return text, ""
    room = max(0, limit - len(ellipsis))
    cut = text.rfind(" ", 0, room + 1)
    if cut < room // 2:
        cut = room
    return text[:cut].rstrip() + ellipsis, text[cut:].lstrip()


DISCORD_TEXT_INPUT_PLACEHOLDER = 100
