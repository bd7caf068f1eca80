"""`aula console`: a local classroom in the terminal, on the embedded defaults.

Interactive on a terminal; with piped input it runs one command per line and
exits 0 at end of input. A line is `/command arguments`; after a reply with
buttons, typing a button's number (or its label) clicks it. Forms are asked
field by field (in a pipe, one line per field, `\\n` for a newline); a field
that already has a value (✏️ Editar) keeps it on an empty line, and on a
terminal the value is there to edit.

Input is read in a thread, so the event loop keeps running while nobody types:
quiz timers close questions and refresh their countdown, homework deadlines and
reminders post, as on Discord and Slack. `/as NAME` switches who is typing, so
one console can play a quiz with several people.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from adapters.console.render import ConsoleRenderer
from bot.actions import command_of
from bot.arguments import missing_required, parse_arguments, split_subcommand
from bot.errors import UserError, echo, file_error
from bot.i18n import t
from bot.replies import Button, Form, Reply
from bot.requests import Place, Request, User
from bot.uploads import Upload

if TYPE_CHECKING:  # the app (and its storage: aiosqlite) only for a console that runs one;
    from bot.app import Aula  # `aula tokens`/`roles`/`dataset` use this package's renderer alone

PLACE = Place(platform="console", workspace_id="local", channel_id="aula")
QUIT_WORDS = {"/quit", "/exit", "/salir"}
SWITCH_COMMAND = "as"  # /as NAME [instructor]: the console's own command, not the core's
PERSON_NAME = re.compile(r"[\w.\-]{1,32}")


def error_reply(lang: str, key: str, **values) -> Reply:
    """bot.app.error_reply, imported when a console session first shows an error."""
    from bot.app import error_reply as app_error_reply

    return app_error_reply(lang, key, **values)


@dataclass
class ConsoleSession:
    aula: Aula
    user: User
    out: TextIO
    renderer: ConsoleRenderer
    lines: BinaryIO
    interactive: bool
    switched: bool = False
    buttons: list[Button] = field(default_factory=list)
    refused: int = 0
    instructors: set[str] = field(default_factory=set)  # who, of the people typing here, teaches
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    # --- Messenger: lets timers and deadlines post while nobody types -----------------
    async def send(self, place: Place, reply: Reply) -> str:
        self.show(reply, header=f"#{place.thread_id or place.channel_id}")
        return str(next(self._ids))

    async def edit(self, place: Place, message_id: str, reply: Reply) -> None:
        self.show(reply, header=f"#{place.channel_id} (✎ {message_id})")

    async def start_thread(self, place: Place, message_id: str, title: str) -> Place:
        return Place(place.platform, place.workspace_id, place.channel_id, thread_id=f"{title}")

    async def send_direct(self, place: Place, user_id: str, reply: Reply) -> None:
        self.show(reply, header=f"@{user_id}")

    # --- reading and answering --------------------------------------------------------
    def show(self, reply: Reply, header: str = "") -> None:
        lang = self.user.locale
        hint = t(lang, "console.buttons_hint") if reply.buttons else ""
        text = self.renderer.render(reply, buttons_hint=hint)
        prefix = self.renderer.style(t(lang, "console.only_you"), "\x1b[2m") + "\n" if reply.is_private else ""
        if header:
            prefix = self.renderer.style(header, "\x1b[2m") + "\n" + prefix
        self.out.write(prefix + text + "\n\n")
        self.out.flush()
        if reply.buttons:
            self.buttons = list(reply.buttons)

    def read_line(self, prompt: str, prefill: str = "") -> str | None:
        """The next line without its newline, None at end of input. Raises UnicodeDecodeError.
        Blocks: call it through next_line()."""
        if self.interactive:
            hook = _prefill_hook(prefill)
            try:
                return input(prompt)  # readline editing and history on a terminal
            except EOFError:
                return None
            finally:
                hook()
        raw = self.lines.readline()
        if not raw:
            return None
        return raw.decode("utf-8").rstrip("\r\n")

    async def next_line(self, prompt: str, prefill: str = "") -> str | None:
        """read_line() in a thread of its own, so timers and deadlines run while nobody types.

        A daemon thread rather than the loop's executor: a read still waiting when the console
        ends (Ctrl-C) must not keep the process alive."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()

        def settle(outcome: str | None | BaseException) -> None:
            if future.done():
                return
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

        def read() -> None:
            try:
                outcome: str | None | BaseException = self.read_line(prompt, prefill)
            except BaseException as exc:  # UnicodeDecodeError, KeyboardInterrupt...: the loop decides
                outcome = exc
            with contextlib.suppress(RuntimeError):  # the loop is already closed: nobody waits
                loop.call_soon_threadsafe(settle, outcome)

        threading.Thread(target=read, name="console-input", daemon=True).start()
        return await future

    async def run_lines(self) -> None:
        """Answer line after line until the input ends or says quit; a line that is not
        UTF-8 is refused and the next one read."""
        while True:
            try:
                line = await self.next_line(f"{self.user.name}> " if self.instructors or self.switched else "aula> ")
            except UnicodeDecodeError:
                self.show(error_reply(self.user.locale, "error.bad_encoding"))
                self.refused += 1
                continue
            if line is None or line.strip().lower() in QUIT_WORDS:
                break
            await self.run_line(line)
            await asyncio.sleep(0)  # let timers that came due post their messages

    async def run_line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        request = self.request_for(line)
        if request is None:
            return
        await self.dispatch(request)

    async def dispatch(self, request: Request) -> None:
        """Show a command's answer. A streamed answer shows its first version at once on a
        terminal (e.g. a place in the queue) and its final version when it is done."""
        first: Reply | None = None
        last: Reply | None = None
        form: Form | None = None
        # aclosing: the command's own bookkeeping (its log line) runs before the form is asked.
        async with contextlib.aclosing(self.aula.handle(request)) as replies:
            async for reply in replies:
                if reply.form is not None:
                    form = reply.form
                    break
                if first is None:
                    first = reply
                    if self.interactive:
                        self.show(reply)
                last = reply
        if form is not None:
            await self.fill_form(request, form)
            return
        if last is not None and not (self.interactive and last is first):
            self.show(last)
        if last is not None and last.error:
            self.refused += 1

    def request_for(self, line: str) -> Request | None:
        lang = self.user.locale
        if not line.startswith("/"):
            button = self.match_button(line)
            if button is None:
                self.show(error_reply(lang, "console.not_a_command"))
                self.refused += 1
                return None
            return Request(command=command_of(button.id), user=self.user, place=PLACE, action=button.id)
        name, _, rest = line[1:].partition(" ")
        name = name.lower()
        if name == SWITCH_COMMAND:
            self.switch_person(rest)
            return None
        command = self.aula.commands.get(name)
        if command is None:
            self.show(error_reply(lang, "error.unknown_command", command=echo(name)))
            self.refused += 1
            return None
        try:
            subcommand, rest = split_subcommand(command.spec, rest)
            spec = command.spec.subcommand(subcommand) if subcommand else command.spec
            if spec is None:
                raise UserError("error.unknown_subcommand", command=name, subcommand=echo(subcommand))
            args = parse_arguments(spec, rest, lang)
            missing = missing_required(spec, args)
            if missing is not None:
                raise UserError("error.missing_argument", option=missing.name, example=f"/{name} {missing.name}:…")
            attachments = self.local_files(spec, args)
        except UserError as exc:
            self.show(error_reply(lang, exc.key, **exc.values))
            self.refused += 1
            return None
        return Request(
            command=name, subcommand=subcommand, args=args, user=self.user, place=PLACE, attachments=attachments
        )

    def switch_person(self, rest: str) -> None:
        """/as NAME [instructor]: whoever types next is NAME (a student unless they teach)."""
        lang = self.user.locale
        words = rest.split()
        teaches = len(words) == 2 and words[1].lower() in ("instructor", "instructora", "profe")
        if not words or len(words) > 2 or (len(words) == 2 and not teaches) or not PERSON_NAME.fullmatch(words[0]):
            self.show(error_reply(lang, "console.as_usage"))
            self.refused += 1
            return
        name = words[0]
        if teaches:
            self.instructors.add(name)
        self.user = User(id=name, name=name, is_instructor=name in self.instructors, locale=lang)
        self.switched = True
        role = t(lang, "console.as_instructor") if self.user.is_instructor else t(lang, "console.as_student")
        self.out.write(self.renderer.style(t(lang, "console.as_now", name=name, role=role), "\x1b[2m") + "\n\n")
        self.out.flush()

    def local_files(self, spec, args: dict) -> tuple[Upload, ...]:
        """An attachment option's value is a path on this machine: each is an Upload the command
        reads as it needs (/dataset streams it from disk, never whole)."""
        files = []
        for option in spec.options:
            value = args.get(option.name)
            if option.kind != "attachment" or not value:
                continue
            path = Path(str(value)).expanduser()
            try:
                if path.is_dir():  # a folder said as such, not as "not found"
                    raise IsADirectoryError(value)
                if not path.is_file():
                    raise FileNotFoundError(value)
                files.append(Upload.of_path(path))
            except OSError as exc:
                raise file_error(exc, echo(value)) from None
            args[option.name] = path.name
        return tuple(files)

    def match_button(self, text: str) -> Button | None:
        text = text.strip().lower()
        for index, button in enumerate(self.buttons):
            if button.disabled:
                continue
            if text == str(index + 1) or text == button.label.lower() or text == button.label.lower().split(" ")[0]:
                return button
        return None

    async def fill_form(self, request: Request, form: Form) -> None:
        lang = self.user.locale
        self.out.write(self.renderer.style(form.title, "\x1b[1m") + "\n")
        values: dict[str, str] = {}
        for form_field in form.fields:
            hint = t(lang, "console.form_optional") if not form_field.required else ""
            if form_field.value and not self.interactive:  # on a terminal the value is in the line to edit
                self.out.write(t(lang, "console.form_current", value=form_field.value.replace("\n", "\\n")) + "\n")
            try:
                value = await self.next_line(f"{form_field.label}{hint}: ", prefill=form_field.value.replace("\n", "\\n"))
            except UnicodeDecodeError:  # the form is dropped, as at the end of input; the console goes on
                self.show(error_reply(lang, "error.bad_encoding"))
                self.refused += 1
                return
            if value is None:
                self.show(error_reply(lang, "console.form_cancelled"))
                return
            if not value and form_field.value and not self.interactive:
                value = form_field.value  # Enter keeps what the field had, as Discord's and Slack's forms do
            elif form_field.multiline:
                value = value.replace("\\n", "\n")
            values[form_field.id] = value
        await self.dispatch(
            Request(
                command=command_of(form.id),
                user=self.user,
                place=request.place,
                action=form.id,
                values=values,
            )
        )


async def run_console(
    aula: Aula,
    user_name: str = "estudiante",
    instructor: bool = False,
    locale: str | None = None,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
    colour: bool | None = None,
) -> int:
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout
    interactive = stdin.isatty() if hasattr(stdin, "isatty") else False
    if colour is None:
        colour = stdout.isatty() if hasattr(stdout, "isatty") else False
    lang = locale or aula.settings.default_locale
    user = User(id=user_name, name=user_name, is_instructor=instructor, locale=lang)
    session = ConsoleSession(
        aula=aula,
        user=user,
        out=stdout,
        renderer=ConsoleRenderer(colour=colour, files_dir=aula.settings.data_dir / "console-files"),
        lines=stdin,
        interactive=interactive,
        instructors={user_name} if instructor else set(),
    )
    aula.messengers["console"] = session
    if interactive:
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (gives input() line editing)
    await aula.start()
    try:
        if interactive:
            stdout.write(t(lang, "console.welcome", name=user_name) + "\n\n")
        await session.run_lines()
    finally:
        await aula.close()
    return session.refused


def _prefill_hook(text: str):
    """Put text in readline's edit buffer for the next input() (a form field being edited);
    returns what undoes it. Without readline (or nothing to prefill) it does nothing."""
    try:
        import readline
    except ImportError:
        return lambda: None
    if not text:
        return lambda: None

    def insert() -> None:
        readline.insert_text(text)
        readline.redisplay()

    readline.set_pre_input_hook(insert)
    return lambda: readline.set_pre_input_hook(None)
