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
