"""The voice bible: a voice bound at casting, distinct within the cast, kept on reload, changed
on record; the narrator's voice."""

from __future__ import annotations

import pytest

from storage import characters, projects, revisions, voices
from storage.errors import InvalidInput
from storage.models import Voice


@pytest.fixture
def project(fresh_db):
    return projects.create_project(fresh_db, "Gong Gong", writers_channel_id=5)


def test_every_character_is_cast_with_a_voice_of_their_own(fresh_db, project):
    names = [f"Character {n}" for n in range(12)]  # more than the palette holds
    cast = [characters.upsert_character(fresh_db, project.id, name) for name in names]
    voiced = [c.voice for c in cast]
    assert all(voice is not None for voice in voiced)
    assert len(set(voiced)) == len(names)  # no two characters sound alike
    assert voiced[:2] == [voices.PALETTE[0], voices.PALETTE[1]]  # low, then high
    # told apart by pitch, where the palette's variants run out
    assert len({(v.name, v.pitch) for v in voiced if v is not None}) == len(names)
    # kept: an edit of the character, or reading it again, does not recast it
    again = characters.upsert_character(fresh_db, project.id, "Character 0", "older now")
    assert again.voice == voiced[0]
    assert characters.get_character(fresh_db, project.id, "character 3").voice == voiced[3]


def test_a_directors_voice_choice_keeps_the_old_one_on_record(fresh_db, project):
    li = characters.upsert_character(fresh_db, project.id, "Li Xingzhou")
    chosen = Voice("espeak", "m7", 20, 140)
    voices.set_voice(fresh_db, li, chosen, author_id=42)

    assert characters.get_character(fresh_db, project.id, "Li Xingzhou").voice == chosen
    [old] = revisions.history(fresh_db, "character", li.id)
    assert Voice.from_json(old.data["voice"]) == li.voice and old.author_id == 42
    # a newcomer is not cast with a voice someone already speaks in
    mei = characters.upsert_character(fresh_db, project.id, "Mei")
    assert mei.voice not in (chosen, None)


@pytest.mark.parametrize(
    ("voice", "message"),
    [
        (Voice("espeak", "m3", 120, 160), "pitch is 0-99, not 120"),
        (Voice("espeak", "m3", 50, 20), "80-400 words a minute, not 20"),
        (Voice("", "m3"), "needs an engine"),
    ],
)
def test_a_voice_it_cannot_speak_is_refused_and_nothing_changes(fresh_db, project, voice, message):
    li = characters.upsert_character(fresh_db, project.id, "Li Xingzhou")
    with pytest.raises(InvalidInput, match=message):
        voices.set_voice(fresh_db, li, voice)
    assert characters.get_character(fresh_db, project.id, "Li Xingzhou").voice == li.voice
    assert revisions.history(fresh_db, "character", li.id) == []


def test_the_narrator_speaks_in_the_default_voice_until_one_is_chosen(fresh_db, project):
    assert voices.narrator(fresh_db, project.id) == voices.NARRATOR
