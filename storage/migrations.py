"""Numbered schema migrations (sqlite-utils Migrations). Never edit one that has shipped."""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("showrunner")


@migrations(name="m001_initial")
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY,
            guild_id INTEGER,
            writers_channel_id INTEGER UNIQUE,
            review_channel_id INTEGER,
            delivery_channel_id INTEGER,
            title TEXT NOT NULL,
            logline TEXT NOT NULL DEFAULT '',
            style TEXT NOT NULL DEFAULT '',
            width INTEGER NOT NULL DEFAULT 720,
            height INTEGER NOT NULL DEFAULT 1280,
            fps INTEGER NOT NULL DEFAULT 24,
            quorum INTEGER NOT NULL DEFAULT 1,
            director_role_id INTEGER,
            created_by INTEGER,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE characters (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            look TEXT NOT NULL DEFAULT '',
            seed INTEGER NOT NULL,
            UNIQUE (project_id, name)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE episodes (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            number INTEGER NOT NULL,
            title TEXT NOT NULL,
            synopsis TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'writing',
            cut_path TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (project_id, number)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE scenes (
            id INTEGER PRIMARY KEY,
            episode_id INTEGER NOT NULL REFERENCES episodes(id),
            number INTEGER NOT NULL,
            heading TEXT NOT NULL DEFAULT '',
            summary TEXT NOT NULL DEFAULT '',
            UNIQUE (episode_id, number)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE shots (
            id INTEGER PRIMARY KEY,
            episode_id INTEGER NOT NULL REFERENCES episodes(id),
            scene_id INTEGER NOT NULL REFERENCES scenes(id),
            number INTEGER NOT NULL,
            description TEXT NOT NULL,
            prompt TEXT NOT NULL DEFAULT '',
            negative_prompt TEXT NOT NULL DEFAULT '',
            camera TEXT NOT NULL DEFAULT '',
            duration REAL NOT NULL,
            dialogue TEXT NOT NULL DEFAULT '',
            characters TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL DEFAULT 'planned',
            approved_take_id INTEGER,
            revision INTEGER NOT NULL DEFAULT 1,
            UNIQUE (episode_id, number)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE takes (
            id INTEGER PRIMARY KEY,
            shot_id INTEGER NOT NULL REFERENCES shots(id),
            job_id TEXT NOT NULL,
            seed INTEGER NOT NULL,
            engine TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            parameters TEXT NOT NULL DEFAULT '{}',
            media_path TEXT NOT NULL,
            preview_path TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'review',
            channel_id INTEGER,
            message_id INTEGER,
            created_at TEXT NOT NULL,
            UNIQUE (job_id, seed)
        )
        """
    )
    db.execute("CREATE INDEX takes_message ON takes(message_id)")
    db.execute(
        """
        CREATE TABLE votes (
            take_id INTEGER NOT NULL REFERENCES takes(id),
            user_id INTEGER NOT NULL,
            emoji TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (take_id, user_id, emoji)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE renders (
            id INTEGER PRIMARY KEY,
            episode_id INTEGER NOT NULL REFERENCES episodes(id),
            channel_id INTEGER,
            status_message_id INTEGER,
            requester INTEGER,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            episode_id INTEGER NOT NULL REFERENCES episodes(id),
            shot_id INTEGER REFERENCES shots(id),
            render_id INTEGER REFERENCES renders(id),
            payload TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'queued',
            priority INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            worker TEXT,
            progress REAL NOT NULL DEFAULT 0,
            stage TEXT NOT NULL DEFAULT '',
            error TEXT,
            requester INTEGER,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX jobs_status ON jobs(status, priority, created_at)")
    db.execute(
        """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            channel_id INTEGER,
            author_id INTEGER,
            author_name TEXT NOT NULL DEFAULT '',
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            delivered_at TEXT
        )
        """
    )


@migrations(name="m002_depth")
def m002_depth(db: sqlite_utils.Database) -> None:
    """Columns and tables for the in-depth issues (pipeline, agent, cut and delivery)."""
    # Project settings: how drafts are reviewed, title/end cards, music bed.
    db.execute("ALTER TABLE projects ADD COLUMN review_mode TEXT NOT NULL DEFAULT 'clips'")
    db.execute("ALTER TABLE projects ADD COLUMN title_card_seconds REAL NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE projects ADD COLUMN end_card_seconds REAL NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE projects ADD COLUMN credits TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE projects ADD COLUMN music_path TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE projects ADD COLUMN music_volume REAL NOT NULL DEFAULT 0.3")
    # The plan gate: every plan change bumps plan_revision; a go-ahead records the revision.
    db.execute("ALTER TABLE episodes ADD COLUMN teaser TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE episodes ADD COLUMN plan_revision INTEGER NOT NULL DEFAULT 1")
    db.execute("ALTER TABLE episodes ADD COLUMN accepted_revision INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE episodes ADD COLUMN accepted_by INTEGER")
    db.execute("ALTER TABLE episodes ADD COLUMN accepted_at TEXT")
    db.execute("ALTER TABLE characters ADD COLUMN reference_path TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE characters ADD COLUMN revision INTEGER NOT NULL DEFAULT 1")
    # Continuity: start this shot from the previous approved shot's last frame.
    db.execute("ALTER TABLE shots ADD COLUMN continuous INTEGER NOT NULL DEFAULT 0")
    # Keyframe-first review: a clip take records the keyframe take it was animated from.
    db.execute("ALTER TABLE takes ADD COLUMN kind TEXT NOT NULL DEFAULT 'clip'")
    db.execute("ALTER TABLE takes ADD COLUMN source_take_id INTEGER REFERENCES takes(id)")
    db.execute("ALTER TABLE takes ADD COLUMN note TEXT NOT NULL DEFAULT ''")
    # Old versions of edited rows stay on record here (subject: shot, scene, character, episode).
    db.execute(
        """
        CREATE TABLE revisions (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL,
            subject_id INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            data TEXT NOT NULL,
            author_id INTEGER,
            reason TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            UNIQUE (subject, subject_id, revision)
        )
        """
    )
    # One queued or running cut per episode, enforced by SQLite even across processes.
    db.execute(
        """
        UPDATE jobs SET status = 'cancelled', error = 'duplicate cut'
        WHERE kind = 'assemble' AND status IN ('queued', 'running') AND id NOT IN (
            SELECT MIN(id) FROM jobs
            WHERE kind = 'assemble' AND status IN ('queued', 'running') GROUP BY episode_id
        )
        """
    )
    db.execute(
        "CREATE UNIQUE INDEX jobs_one_active_cut ON jobs(episode_id) "
        "WHERE kind = 'assemble' AND status IN ('queued', 'running')"
    )


@migrations(name="m003_season")
def m003_season(db: sqlite_utils.Database) -> None:
    """A season: the series bible, a map of its episodes, the canon that must hold."""
    db.execute(
        """
        CREATE TABLE seasons (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            number INTEGER NOT NULL,
            premise TEXT NOT NULL,
            logline TEXT NOT NULL DEFAULT '',
            world TEXT NOT NULL DEFAULT '',
            tone TEXT NOT NULL DEFAULT '',
            visual_style TEXT NOT NULL DEFAULT '',
            episode_count INTEGER NOT NULL,
            episode_seconds REAL NOT NULL,
            revision INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            UNIQUE (project_id, number)
        )
        """
    )
    # The season map: one row per planned episode; episode_id once its plan is written.
    db.execute(
        """
        CREATE TABLE season_episodes (
            id INTEGER PRIMARY KEY,
            season_id INTEGER NOT NULL REFERENCES seasons(id),
            number INTEGER NOT NULL,
            title TEXT NOT NULL,
            logline TEXT NOT NULL DEFAULT '',
            hook_type TEXT NOT NULL,
            cliffhanger TEXT NOT NULL DEFAULT '',
            beats TEXT NOT NULL DEFAULT '',
            episode_id INTEGER UNIQUE REFERENCES episodes(id),
            revision INTEGER NOT NULL DEFAULT 1,
            UNIQUE (season_id, number)
        )
        """
    )
    # Facts that must hold from shot to shot and episode to episode; a retired fact stays.
    db.execute(
        """
        CREATE TABLE canon_facts (
            id INTEGER PRIMARY KEY,
            season_id INTEGER NOT NULL REFERENCES seasons(id),
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            fact TEXT NOT NULL,
            episode_id INTEGER REFERENCES episodes(id),
            retired_at TEXT,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("ALTER TABLE characters ADD COLUMN arc TEXT NOT NULL DEFAULT ''")


@migrations(name="m004_scene_mood")
def m004_scene_mood(db: sqlite_utils.Database) -> None:
    """A scene's mood: the score's cue for it (pipeline.sound.score.MOODS; '' the default)."""
    db.execute("ALTER TABLE scenes ADD COLUMN mood TEXT NOT NULL DEFAULT ''")


@migrations(name="m005_voices")
def m005_voices(db: sqlite_utils.Database) -> None:
    """The voice bible: each character's voice, the project's narrator (JSON of
    storage.models.Voice; '' until cast, or the default narrator)."""
    db.execute("ALTER TABLE characters ADD COLUMN voice TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE projects ADD COLUMN narrator_voice TEXT NOT NULL DEFAULT ''")


@migrations(name="m006_lines")
def m006_lines(db: sqlite_utils.Database) -> None:
    """Lines spoken: each reading of a shot's dialogue, in the voice it was spoken in (JSON of
    storage.models.Voice), with its WAV and length; a reading that failed keeps its error."""
    db.execute(
        """
        CREATE TABLE lines (
            id INTEGER PRIMARY KEY,
            shot_id INTEGER NOT NULL REFERENCES shots(id),
            job_id TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            speaker TEXT NOT NULL DEFAULT '',
            voice TEXT NOT NULL,
            reading TEXT NOT NULL DEFAULT '',
            media_path TEXT NOT NULL DEFAULT '',
            seconds REAL NOT NULL DEFAULT 0,
            engine TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX lines_by_shot ON lines(shot_id)")


@migrations(name="m007_auditions")
def m007_auditions(db: sqlite_utils.Database) -> None:
    """Auditions: candidate voices (JSON: each voice and its reading's WAV) reading one line, the
    post the team votes on, and its pick; the votes, one row per member and candidate."""
    db.execute(
        """
        CREATE TABLE auditions (
            id INTEGER PRIMARY KEY,
            character_id INTEGER NOT NULL REFERENCES characters(id),
            channel_id INTEGER NOT NULL,
            line TEXT NOT NULL,
            candidates TEXT NOT NULL,
            message_id INTEGER UNIQUE,
            chosen INTEGER,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE audition_votes (
            audition_id INTEGER NOT NULL REFERENCES auditions(id),
            user_id INTEGER NOT NULL,
            choice INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (audition_id, user_id, choice)
        )
        """
    )


@migrations(name="m008_music")
def m008_music(db: sqlite_utils.Database) -> None:
    """Music a model made for an episode: one piece per mood of its scenes, with the model,
    its WAV and length; a piece that could not be made keeps its error."""
    db.execute(
        """
        CREATE TABLE music (
            id INTEGER PRIMARY KEY,
            episode_id INTEGER NOT NULL REFERENCES episodes(id),
            mood TEXT NOT NULL,
            model TEXT NOT NULL,
            job_id TEXT NOT NULL DEFAULT '',
            media_path TEXT NOT NULL DEFAULT '',
            seconds REAL NOT NULL DEFAULT 0,
            error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX music_by_episode ON music(episode_id)")
