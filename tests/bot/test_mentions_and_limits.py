"""Text the bot posts cannot ping anyone, whoever wrote it; and the writers' room's input
limits, each at, just under and just over the limit. The real bot against the emulator; the
model's answers are scripted, and what it was sent is recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agents.director import MAX_INPUT_CHARS
from bot.conversation.attachments import MAX_TEXT_ATTACHMENT_BYTES, MAX_TEXT_ATTACHMENTS
from bot.formatting import neutralise_mentions
from tests.fakes import ScriptedChatModel, say, scripted
from tests.studio import Studio, open_studio, running_bot, start_project

ZWSP = "\u200b"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("hey @everyone", f"hey @{ZWSP}everyone"),
        ("@here now", f"@{ZWSP}here now"),
        ("<@123> and <@!124>", f"<@{ZWSP}123> and <@!{ZWSP}124>"),
        ("role <@&456>", f"role <@&{ZWSP}456>"),
        ("see <#789>", f"see <#{ZWSP}789>"),
        ("an email a@b.c, no mention", "an email a@b.c, no mention"),
    ],
)
def test_every_kind_of_mention_is_broken_and_the_rest_kept(text: str, shown: str) -> None:
    assert neutralise_mentions(text) == shown


class Room:
    def __init__(self, world: Studio, model: ScriptedChatModel) -> None:
        self.world = world
        self.model = model

    async def say(self, text: str, files: list | None = None) -> str:
        """A member's message in the writers' room, and the bot's answer."""
        world = self.world
        sent = await world.emulator.user_message(
            world.writers, world.ana, text, attachments=files or []
        )
        answer = await world.emulator.wait_for_message(
            world.writers, lambda m: m["author_id"] == world.emulator.bot_user_id,
            after_id=sent["id"],
        )  # fmt: skip
        return answer["content"]

    def last_prompt(self) -> str:
        return str(self.model.prompts[-1][-1].content)


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Room]:
    model = scripted(*[say("Noted.") for _ in range(12)])
    async with (
        open_studio(tmp_path / "data", showrunner_render_actors=0) as world,
        running_bot(world, model),
    ):
        await start_project(world)
        yield Room(world, model)


async def test_an_answer_that_names_everyone_pings_nobody(tmp_path: Path):
    model = scripted(say("@everyone @here look, <@42> and <@&43>!"))
    async with (
        open_studio(tmp_path / "data", showrunner_render_actors=0) as world,
        running_bot(world, model),
    ):
        await start_project(world)
        sent = await world.emulator.user_message(world.writers, world.ana, "who is here?")
        answer = await world.emulator.wait_for_message(
            world.writers, lambda m: m["author_id"] == world.emulator.bot_user_id,
            after_id=sent["id"],
        )  # fmt: skip
    assert answer["content"] == (f"@{ZWSP}everyone @{ZWSP}here look, <@{ZWSP}42> and <@&{ZWSP}43>!")
    assert not answer["mention_everyone"] and not answer["mention_ids"]


async def test_a_text_file_at_the_size_limit_is_read_and_one_byte_more_is_not(room: Room):
    at_limit = b"a" * MAX_TEXT_ATTACHMENT_BYTES
    answer = await room.say("notes attached", [("at.txt", at_limit)])
    assert "Skipped" not in answer
    # read, then cut with the rest of the message to what the model is given
    assert "[uploaded file at.txt]\naaaa" in room.last_prompt()
    assert answer.endswith(f"(That was long: I read the first {MAX_INPUT_CHARS} characters.)")

    under = b"b" * (MAX_TEXT_ATTACHMENT_BYTES - 1)
    assert "Skipped" not in await room.say("and these", [("under.txt", under)])
    assert "b" * 100 in room.last_prompt()

    over = b"c" * (MAX_TEXT_ATTACHMENT_BYTES + 1)
    answer = await room.say("and this big one", [("over.txt", over)])
    assert answer.endswith("(Skipped: over.txt (over 20 kB).)")
    assert "ccc" not in room.last_prompt()


async def test_three_text_files_are_read_and_every_one_after_is_named(room: Room):
    files = [(f"part{n}.txt", f"part {n} of the notes".encode()) for n in range(1, 6)]
    answer = await room.say("three files", files[:MAX_TEXT_ATTACHMENTS])
    assert "Skipped" not in answer
    assert "part 3 of the notes" in room.last_prompt()

    answer = await room.say("five files", files)
    limit = f"only {MAX_TEXT_ATTACHMENTS} files are read"
    assert answer.endswith(f"(Skipped: part4.txt ({limit}), part5.txt ({limit}).)")
    seen = room.last_prompt()
    assert "part 3 of the notes" in seen and "part 4 of the notes" not in seen


async def test_text_files_are_known_by_name_or_by_type_and_nothing_else_is_read(room: Room):
    files = [
        ("NOTES.TXT", b"the shouted notes"),  # named in capitals
        ("beats.md", b"the markdown beats", "application/octet-stream"),  # by name alone
        ("script", b"the script without a name", "text/plain; charset=utf-8"),  # by type alone
    ]
    answer = await room.say("three ways to send text", files)
    assert "Skipped" not in answer
    seen = room.last_prompt()
    for text in ("the shouted notes", "the markdown beats", "the script without a name"):
        assert text in seen
    # a .txt whose type says nothing: its name is enough
    unknown = [("draft.txt", b"the draft of unknown type", "application/x-unknown")]
    assert "Skipped" not in await room.say("and a draft", unknown)
    assert "the draft of unknown type" in room.last_prompt()

    not_text = [
        ("still.png", b"\x89PNG\r\n"),
        ("song.mp3", b"ID3 not a text", "audio/mpeg"),
        ("page.html", b"<p>the html page</p>", "text/html"),
        ("notes.txt.exe", b"the disguised program", "application/x-msdownload"),
    ]
    answer = await room.say("and these", not_text)
    names = ", ".join(f"{name} (not a text file)" for name, *_ in not_text)
    assert answer.endswith(f"(Skipped: {names}.)")
    seen = room.last_prompt()
    assert "the html page" not in seen and "the disguised program" not in seen


async def test_one_skipped_file_never_stops_the_files_after_it(room: Room):
    room.world.emulator.unreadable_attachments.add("lost.txt")
    files = [
        ("still.png", b"\x89PNG\r\n"),
        ("huge.txt", b"h" * (MAX_TEXT_ATTACHMENT_BYTES + 1)),
        ("lost.txt", b"the lost notes"),
        ("notes.txt", b"the notes that arrived"),
    ]
    answer = await room.say("notes", files)
    assert answer.endswith(
        "(Skipped: still.png (not a text file), huge.txt (over 20 kB), lost.txt (could not be "
        "read).)"
    )
    assert room.last_prompt().endswith("[uploaded file notes.txt]\nthe notes that arrived")


async def test_files_are_read_as_utf8_with_what_is_not_replaced_and_named_briefly(room: Room):
    long_name = "n" * 96 + ".txt"
    files = [
        ("latin1.txt", "café on the shore".encode("latin-1")),  # not UTF-8
        (long_name, "第一集：共工".encode()),
    ]
    answer = await room.say("two files", files)
    assert "Skipped" not in answer
    seen = room.last_prompt()
    assert "[uploaded file latin1.txt]\ncaf\ufffd on the shore\n\n" in seen
    assert f"[uploaded file {long_name[:80]}]\n第一集：共工" in seen
    assert long_name[:81] not in seen


async def test_a_message_over_the_input_limit_is_cut_and_says_so(room: Room):
    note = f"(That was long: I read the first {MAX_INPUT_CHARS} characters.)"
    for length in (MAX_INPUT_CHARS - 1, MAX_INPUT_CHARS):
        text = "x" * (length - 1) + "Z"
        answer = await room.say(text)
        assert note not in answer
        assert room.last_prompt().endswith("Z")
    answer = await room.say("y" * MAX_INPUT_CHARS + "Z")
    assert answer.endswith(note)
    assert room.last_prompt().endswith("y") and "Z" not in room.last_prompt()
