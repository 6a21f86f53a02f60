"""The emulator's state: users, guilds, channels, messages, commands and interactions as
plain dataclasses, Discord's limits, and small helpers shared by the other modules."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import yarl
from aiohttp import web

if TYPE_CHECKING:
    from tests.discord_emulator.emulator import DiscordEmulator

API_VERSION = 10
API_PREFIX = f"/api/v{API_VERSION}"
DISCORD_EPOCH_MS = 1_420_070_400_000
JSON_CONTENT_TYPE = "application/json"

# Gateway opcodes.
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

# Gateway intents the emulator honours.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
INTENT_MESSAGE_CONTENT = 1 << 15

# Permission bits.
PERM_CREATE_INSTANT_INVITE = 1 << 0
PERM_ADMINISTRATOR = 1 << 3
PERM_ADD_REACTIONS = 1 << 6
PERM_VIEW_CHANNEL = 1 << 10
PERM_SEND_MESSAGES = 1 << 11
PERM_MANAGE_MESSAGES = 1 << 13
PERM_EMBED_LINKS = 1 << 14
PERM_ATTACH_FILES = 1 << 15
PERM_READ_MESSAGE_HISTORY = 1 << 16
PERM_MENTION_EVERYONE = 1 << 17
PERM_USE_EXTERNAL_EMOJIS = 1 << 18
PERM_CHANGE_NICKNAME = 1 << 26
PERM_USE_APPLICATION_COMMANDS = 1 << 31
PERM_MANAGE_THREADS = 1 << 34
PERM_CREATE_PUBLIC_THREADS = 1 << 35
PERM_SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 53) - 1
EVERYONE_PERMISSIONS = (
    PERM_CREATE_INSTANT_INVITE
    | PERM_ADD_REACTIONS
    | PERM_VIEW_CHANNEL
    | PERM_SEND_MESSAGES
    | PERM_EMBED_LINKS
    | PERM_ATTACH_FILES
    | PERM_READ_MESSAGE_HISTORY
    | PERM_USE_EXTERNAL_EMOJIS
    | PERM_CHANGE_NICKNAME
    | PERM_USE_APPLICATION_COMMANDS
    | PERM_CREATE_PUBLIC_THREADS
    | PERM_SEND_MESSAGES_IN_THREADS
)
BOT_ROLE_PERMISSIONS = (
    EVERYONE_PERMISSIONS | PERM_MANAGE_MESSAGES | PERM_MANAGE_THREADS | PERM_MENTION_EVERYONE
)

# Message flags and types.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
SETTABLE_MESSAGE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS
MESSAGE_DEFAULT = 0
MESSAGE_REPLY = 19
MESSAGE_CHAT_INPUT_COMMAND = 20

# Channel types.
CHANNEL_TEXT = 0
CHANNEL_PUBLIC_THREAD = 11
CHANNEL_PRIVATE_THREAD = 12
THREAD_TYPES = (CHANNEL_PUBLIC_THREAD, CHANNEL_PRIVATE_THREAD)

# Interactions.
INTERACTION_APPLICATION_COMMAND = 2
INTERACTION_MESSAGE_COMPONENT = 3
CALLBACK_PONG = 1
CALLBACK_CHANNEL_MESSAGE = 4
CALLBACK_DEFERRED_CHANNEL_MESSAGE = 5
CALLBACK_DEFERRED_UPDATE_MESSAGE = 6
CALLBACK_UPDATE_MESSAGE = 7
CALLBACK_AUTOCOMPLETE_RESULT = 8
CALLBACK_MODAL = 9

# Application command option types.
OPTION_SUB_COMMAND = 1
OPTION_SUB_COMMAND_GROUP = 2
OPTION_STRING = 3
OPTION_INTEGER = 4
OPTION_BOOLEAN = 5
OPTION_USER = 6
OPTION_CHANNEL = 7
OPTION_ROLE = 8
OPTION_MENTIONABLE = 9
OPTION_NUMBER = 10
OPTION_ATTACHMENT = 11

# Discord's documented limits.
MAX_CONTENT_LENGTH = 2000
MAX_EMBEDS = 10
MAX_ATTACHMENTS = 10
MAX_EMBED_TOTAL = 6000
MAX_REACTION_EMOJIS = 20
EMBED_TEXT_LIMITS = {"title": 256, "description": 4096}
EMBED_FIELD_LIMITS = {"name": 256, "value": 1024}
MAX_EMBED_FIELDS = 25

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_CUSTOM_EMOJI = re.compile(r"<?a?:?([A-Za-z0-9_~]+):(\d+)>?")
_FILE_FIELD = re.compile(r"files\[(\d+)\]")
_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
_TRUE_QUERY_VALUES = ("1", "true", "True")

JSONDict = dict[str, Any]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _json_response(data: Any, status: int = 200) -> web.Response:
    # Built by hand: discord.py only parses bodies whose Content-Type is exactly application/json,
    # and web.json_response appends "; charset=utf-8".
    return web.Response(
        status=status, body=json.dumps(data).encode(), content_type=JSON_CONTENT_TYPE
    )


def _no_content() -> web.Response:
    return web.Response(status=204)


def _field_error(code: str, message: str) -> JSONDict:
    return {"_errors": [{"code": code, "message": message}]}


class ApiError(Exception):
    """An error answered the way Discord answers it (status + JSON body with a code)."""

    def __init__(
        self, status: int, code: int, message: str, errors: JSONDict | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def response(self) -> web.Response:
        body: JSONDict = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return _json_response(body, status=self.status)


def _invalid_form(errors: JSONDict) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", errors)


def _not_found(code: int, what: str) -> NoReturn:
    raise ApiError(404, code, f"Unknown {what}")


# what Discord lets one message upload in a boosted guild, by tier (lower tiers: the default)
PREMIUM_UPLOAD_LIMITS = {2: 50 * 1024 * 1024, 3: 100 * 1024 * 1024}


class _Snowflakes:
    """Increasing snowflake ids whose timestamps are the current time."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last


def emoji_key(emoji: str) -> str:
    """Normalise an emoji ('👍', 'name:id', '<:name:id>', '<a:name:id>') to its storage key."""
    match = _CUSTOM_EMOJI.fullmatch(emoji)
    return f"{match[1]}:{match[2]}" if match else emoji


def _emoji_payload(key: str) -> JSONDict:
    name, sep, emoji_id = key.rpartition(":")
    if sep and emoji_id.isdigit():
        return {"id": emoji_id, "name": name, "animated": False}
    return {"id": None, "name": key}


def _reference_snapshot(reference: JSONDict | None) -> JSONDict | None:
    if reference is None:
        return None
    return {key: int(value) if key.endswith("_id") else value for key, value in reference.items()}


def _ids(values: Iterable[Any]) -> list[int]:
    return [int(value) for value in values]


# --------------------------------------------------------------------------- state


@dataclass
class EmuUser:
    id: int
    name: str
    bot: bool = False


@dataclass
class EmuRole:
    id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False
    bot_id: int | None = None


@dataclass
class EmuMember:
    user_id: int
    roles: list[int]
    joined_at: str
    nick: str | None = None


@dataclass
class EmuChannel:
    id: int
    guild_id: int
    name: str
    type: int = CHANNEL_TEXT
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    owner_id: int | None = None
    auto_archive_duration: int = 1440
    created_at: str = field(default_factory=_now_iso)
    last_message_id: int | None = None

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES


@dataclass
class EmuGuild:
    id: int
    name: str
    owner_id: int
    premium_tier: int = 0  # server boost level: tiers 2 and 3 raise the upload limit
    channels: dict[int, EmuChannel] = field(default_factory=dict)
    roles: dict[int, EmuRole] = field(default_factory=dict)
    members: dict[int, EmuMember] = field(default_factory=dict)


@dataclass
class EmuAttachment:
    id: int
    channel_id: int
    filename: str
    data: bytes
    content_type: str
    url: str
    description: str | None = None
    ephemeral: bool = False


@dataclass
class EmuEdit:
    timestamp: str
    content: str
    embeds: list[JSONDict]
    attachment_ids: list[int]


@dataclass
class EmuMessage:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[JSONDict] = field(default_factory=list)
    attachments: list[EmuAttachment] = field(default_factory=list)
    components: list[JSONDict] = field(default_factory=list)
    allowed_mentions: JSONDict | None = None
    message_reference: JSONDict | None = None
    flags: int = 0
    type: int = MESSAGE_DEFAULT
    timestamp: str = field(default_factory=_now_iso)
    edited_timestamp: str | None = None
    edits: list[EmuEdit] = field(default_factory=list)
    reactions: dict[str, list[int]] = field(default_factory=dict)
    mention_ids: list[int] = field(default_factory=list)
    mention_role_ids: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    webhook_id: int | None = None
    interaction_id: int | None = None
    nonce: str | int | None = None
    tts: bool = False
    deleted: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)


@dataclass
class EmuCommand:
    id: int
    guild_id: int | None
    data: JSONDict
    version: int

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def type(self) -> int:
        return int(self.data.get("type", 1))


@dataclass
class _Upload:
    filename: str
    data: bytes
    content_type: str


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    status: int


@dataclass
class InteractionRecord:
    """One interaction sent to the bot and everything the bot answered to it."""

    id: int
    token: str
    type: int
    name: str
    guild_id: int
    channel_id: int
    user_id: int
    payload: JSONDict
    created_at: float
    emulator: DiscordEmulator = field(repr=False)
    response_type: int | None = None
    response_data: JSONDict | None = None
    original_message_id: int | None = None
    followup_message_ids: list[int] = field(default_factory=list)

    @property
    def responded(self) -> bool:
        return self.response_type is not None

    @property
    def deferred(self) -> bool:
        return self.response_type in (
            CALLBACK_DEFERRED_CHANNEL_MESSAGE,
            CALLBACK_DEFERRED_UPDATE_MESSAGE,
        )

    @property
    def ephemeral(self) -> bool:
        """Whether the initial response (message or defer) was ephemeral."""
        flags = int((self.response_data or {}).get("flags") or 0)
        return bool(flags & FLAG_EPHEMERAL)

    @property
    def original(self) -> JSONDict | None:
        if self.original_message_id is None:
            return None
        return self.emulator.message(self.original_message_id)

    @property
    def followups(self) -> list[JSONDict]:
        return [self.emulator.message(mid) for mid in self.followup_message_ids]

    def all_messages(self) -> list[JSONDict]:
        original = self.original
        return ([original] if original else []) + self.followups

    async def wait_response(self, timeout: float = 10.0) -> InteractionRecord:
        await self.emulator.wait_until(lambda: self.responded, timeout)
        return self

    async def wait_followups(self, count: int = 1, timeout: float = 10.0) -> list[JSONDict]:
        await self.emulator.wait_until(lambda: len(self.followup_message_ids) >= count, timeout)
        return self.followups

    async def wait_original_content(self, timeout: float = 10.0) -> JSONDict:
        """Wait until the original response is a finished (not loading) message."""

        def finished() -> JSONDict | None:
            original = self.original
            return original if original and not original["flags"] & FLAG_LOADING else None

        return await self.emulator.wait_until(finished, timeout)


@dataclass
class _Session:
    id: str
    intents: int
    seq: int = 0
    history: list[tuple[int, str]] = field(default_factory=list)
    connection: _Connection | None = None


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    session: _Session | None = None
    writer: asyncio.Task[None] | None = None


class _PointedDiscordPy:
    """Restores discord.py's endpoints; callable and usable as a context manager."""

    def __init__(self, base: str, gateway: yarl.URL) -> None:
        self._base = base
        self._gateway = gateway

    def __call__(self) -> None:
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        Route.BASE = self._base
        DiscordWebSocket.DEFAULT_GATEWAY = self._gateway

    def __enter__(self) -> _PointedDiscordPy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self()


def point_discord_py_at(emulator: DiscordEmulator) -> _PointedDiscordPy:
    """Point discord.py's REST base and gateway at the emulator; returns the restore callable."""
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    restore = _PointedDiscordPy(Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    Route.BASE = emulator.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emulator.gateway_url)
    return restore
