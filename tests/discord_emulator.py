"""A Discord API emulator for tests.

An aiohttp server on loopback that speaks enough of the Discord REST API (v10) and the gateway
for the real discord.py client (``commands.Bot`` with app commands) to log in, receive events and
answer them. Tests drive the "users" through async methods (:meth:`DiscordEmulator.user_message`,
:meth:`DiscordEmulator.slash_command`, ...) and inspect what the bot did through plain dicts
(:meth:`DiscordEmulator.messages`).

Usage::

    async with DiscordEmulator() as emulator:
        restore = point_discord_py_at(emulator)
        guild_id = emulator.create_guild("studio")
        ...
        restore()

Any REST route that is not implemented answers 404 and is listed by
:meth:`DiscordEmulator.assert_clean`, so a test fails loudly when the bot starts relying on an
endpoint the emulator does not model.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import mimetypes
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import quote

import yarl
from aiohttp import BodyPartReader, WSMsgType, web

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


# --------------------------------------------------------------------------- emulator


class DiscordEmulator:
    """Discord REST + gateway emulator on 127.0.0.1 (random port)."""

    def __init__(
        self,
        *,
        token: str = "emulator-bot-token",
        bot_name: str = "Showrunner",
        heartbeat_interval_ms: int = 41_250,
        interaction_ack_timeout: float = 3.0,
        max_upload_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_ack_timeout = interaction_ack_timeout
        self.max_upload_bytes = max_upload_bytes

        self._ids = _Snowflakes()
        self.application_id = self._ids.next()
        self.bot_user = EmuUser(id=self._ids.next(), name=bot_name, bot=True)
        self.users: dict[int, EmuUser] = {self.bot_user.id: self.bot_user}
        self.guilds: dict[int, EmuGuild] = {}
        self.channels: dict[int, EmuChannel] = {}
        self.commands: dict[int, EmuCommand] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self._messages: dict[int, EmuMessage] = {}
        self._channel_messages: dict[int, list[int]] = {}
        self._attachments: dict[int, EmuAttachment] = {}
        # file names whose download from the CDN fails (an outage, an expired link)
        self.unreadable_attachments: set[str] = set()

        # Observability for tests.
        self.unhandled: list[str] = []
        self.errors: list[str] = []
        self.requests: list[RequestRecord] = []
        self.dispatched: list[tuple[str, JSONDict]] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.identify_payloads: list[JSONDict] = []
        self.typing_channel_ids: list[int] = []
        self.resume_count = 0
        self.heartbeat_count = 0

        self._session: _Session | None = None
        self._connections: set[_Connection] = set()
        self._ready = asyncio.Event()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        app = web.Application(
            middlewares=[self._middleware],
            client_max_size=max(self.max_upload_bytes, *PREMIUM_UPLOAD_LIMITS.values()) * 2,
        )
        self._add_routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        for conn in list(self._connections):
            await conn.ws.close(code=1001, message=b"emulator stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("emulator not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def bot_user_id(self) -> int:
        return self.bot_user.id

    @property
    def bot_connected(self) -> bool:
        """True once a bot identified (or resumed) and got its guilds, until it disconnects."""
        return self._ready.is_set()

    # ------------------------------------------------------------- state setup

    def create_guild(self, name: str) -> int:
        guild_id = self._ids.next()
        guild = EmuGuild(id=guild_id, name=name, owner_id=self._ids.next())
        guild.roles[guild_id] = EmuRole(guild_id, "@everyone", EVERYONE_PERMISSIONS)
        bot_role = EmuRole(
            self._ids.next(), self.bot_user.name, BOT_ROLE_PERMISSIONS, 1, True, self.bot_user.id
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[self.bot_user.id] = EmuMember(self.bot_user.id, [bot_role.id], _now_iso())
        self.guilds[guild_id] = guild
        self._dispatch_guild_create(guild, joined=True)
        self._notify()
        return guild_id

    async def set_premium_tier(self, guild_id: int, tier: int) -> None:
        """Boost a guild (tier 0-3); the bot gets GUILD_UPDATE."""
        guild = self._guild(guild_id)
        guild.premium_tier = tier
        self._dispatch("GUILD_UPDATE", self._guild_payload(guild), intent=INTENT_GUILDS)
        self._notify()
        await self._flush()

    def upload_limit(self, channel_id: int | None) -> int:
        """Bytes one request may upload to a channel: the guild's boost tier decides."""
        channel = self.channels.get(channel_id or 0)
        guild = self.guilds.get(channel.guild_id) if channel and channel.guild_id else None
        boosted = PREMIUM_UPLOAD_LIMITS.get(guild.premium_tier, 0) if guild else 0
        return max(self.max_upload_bytes, boosted)

    def create_channel(self, guild_id: int, name: str, topic: str | None = None) -> int:
        guild = self._guild(guild_id)
        channel = EmuChannel(
            id=self._ids.next(),
            guild_id=guild_id,
            name=name,
            topic=topic,
            position=len(guild.channels),
        )
        self._add_channel(guild, channel)
        self._dispatch("CHANNEL_CREATE", self._channel_payload(channel), intent=INTENT_GUILDS)
        return channel.id

    def create_role(self, guild_id: int, name: str, permissions: int = 0) -> int:
        guild = self._guild(guild_id)
        role = EmuRole(self._ids.next(), name, permissions, position=len(guild.roles))
        guild.roles[role.id] = role
        payload = {"guild_id": str(guild_id), "role": self._role_payload(role)}
        self._dispatch("GUILD_ROLE_CREATE", payload, intent=INTENT_GUILDS)
        self._notify()
        return role.id

    def add_member(
        self, guild_id: int, name: str, roles: Iterable[int] = (), user_id: int | None = None
    ) -> int:
        """Add a user to a guild and return the user id (pass user_id to reuse a user)."""
        guild = self._guild(guild_id)
        if user_id is None:
            user = EmuUser(self._ids.next(), name)
            self.users[user.id] = user
        else:
            user = self._user(user_id)
        role_ids = list(roles)
        self._check_roles(guild, role_ids)
        member = EmuMember(user.id, role_ids, _now_iso())
        guild.members[user.id] = member
        payload = self._member_payload(guild, member, with_user=True) | {"guild_id": str(guild_id)}
        self._dispatch("GUILD_MEMBER_ADD", payload, intent=INTENT_GUILD_MEMBERS)
        self._notify()
        return user.id

    def set_member_roles(self, guild_id: int, user_id: int, roles: Iterable[int]) -> None:
        guild = self._guild(guild_id)
        member = self._member(guild, user_id)
        role_ids = list(roles)
        self._check_roles(guild, role_ids)
        member.roles = role_ids
        payload = self._member_payload(guild, member, with_user=True) | {"guild_id": str(guild_id)}
        self._dispatch("GUILD_MEMBER_UPDATE", payload, intent=INTENT_GUILD_MEMBERS)
        self._notify()

    # ----------------------------------------------------------- user actions

    async def user_message(
        self,
        channel_id: int,
        user_id: int,
        content: str,
        attachments: Iterable[tuple[str, bytes] | tuple[str, bytes, str]] = (),
        reply_to: int | None = None,
    ) -> JSONDict:
        """A user posts a message; the bot gets MESSAGE_CREATE. Returns the stored message.

        Attachments are (filename, data), typed from the name as a client would, or
        (filename, data, content_type)."""
        channel = self._channel(channel_id)
        guild = self._guild(channel.guild_id)
        self._member(guild, user_id)
        stored = [self._store_attachment(channel.id, *attachment) for attachment in attachments]
        message = EmuMessage(
            id=self._ids.next(),
            channel_id=channel.id,
            guild_id=guild.id,
            author_id=user_id,
            content=content,
            attachments=stored,
        )
        if reply_to is not None:
            referenced = self._channel_message(channel, reply_to)
            message.type = MESSAGE_REPLY
            message.message_reference = self._reference(channel, referenced.id)
        self._set_mentions(message, guild, allowed=None)
        self._store_message(message)
        self._dispatch_message("MESSAGE_CREATE", message)
        await self._flush()
        return self._snapshot(message)

    async def user_react(self, channel_id: int, message_id: int, user_id: int, emoji: str) -> None:
        """A user adds a reaction; stored even when no bot is connected."""
        channel = self._channel(channel_id)
        self._member(self._guild(channel.guild_id), user_id)
        message = self._channel_message(channel, message_id)
        self._add_reaction(message, user_id, emoji_key(emoji))
        await self._flush()

    async def user_unreact(
        self, channel_id: int, message_id: int, user_id: int, emoji: str
    ) -> None:
        channel = self._channel(channel_id)
        message = self._channel_message(channel, message_id)
        self._remove_reaction(message, user_id, emoji_key(emoji))
        await self._flush()

    async def user_delete_message(self, channel_id: int, message_id: int) -> None:
        """A moderator deletes a message (the bot's own too); a later fetch of it is a 404."""
        self._delete_message(self._channel_message(self._channel(channel_id), message_id))
        await self._flush()

    async def slash_command(
        self,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, object] | None = None,
        subcommand: str | None = None,
        group: str | None = None,
    ) -> InteractionRecord:
        """A user runs a registered chat-input command; the bot gets INTERACTION_CREATE.

        Option values are plain Python values; user/channel/role options take ids and attachment
        options take ``(filename, bytes)``.
        """
        channel = self._channel(channel_id)
        guild = self._guild(channel.guild_id)
        command = self._find_command(name, guild.id)
        resolved: JSONDict = {}
        data_options = self._command_options(
            command, channel, dict(options or {}), subcommand, group, resolved
        )
        data: JSONDict = {"id": str(command.id), "name": name, "type": 1, "options": data_options}
        if resolved:
            data["resolved"] = resolved
        if command.guild_id is not None:
            data["guild_id"] = str(command.guild_id)
        full_name = " ".join(part for part in (name, group, subcommand) if part)
        return await self._create_interaction(
            INTERACTION_APPLICATION_COMMAND, channel, user_id, data, full_name
        )

    async def component_interaction(
        self,
        channel_id: int,
        message_id: int,
        user_id: int,
        custom_id: str,
        component_type: int = 2,
        values: Iterable[str] | None = None,
    ) -> InteractionRecord:
        """A user clicks a button (component_type 2) or picks select values on a bot message."""
        channel = self._channel(channel_id)
        message = self._channel_message(channel, message_id)
        data: JSONDict = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        return await self._create_interaction(
            INTERACTION_MESSAGE_COMPONENT, channel, user_id, data, custom_id, message=message
        )

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; discord.py reconnects and RESUMEs."""
        session = self._session
        if session is None or session.connection is None:
            raise RuntimeError("no bot connected")
        conn = session.connection
        self._ready.clear()
        self._send(conn, OP_RECONNECT, None)
        await self._flush()

    # -------------------------------------------------------------- inspection

    def messages(self, channel_id: int, *, include_deleted: bool = False) -> list[JSONDict]:
        """Stored messages of a channel, oldest first (ephemeral ones included)."""
        result = []
        for message_id in self._channel_messages.get(channel_id, []):
            message = self._messages[message_id]
            if include_deleted or not message.deleted:
                result.append(self._snapshot(message))
        return result

    def message(self, message_id: int) -> JSONDict:
        return self._snapshot(self._messages[message_id])

    def attachment_bytes(self, attachment: Mapping[str, Any] | int) -> bytes:
        attachment_id = attachment if isinstance(attachment, int) else int(attachment["id"])
        return self._attachments[attachment_id].data

    def registered_commands(self, guild_id: int | None = None) -> list[JSONDict]:
        """Commands the bot registered globally (guild_id None) or for one guild."""
        return [
            self._command_payload(command)
            for command in self.commands.values()
            if command.guild_id == guild_id
        ]

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until predicate() is truthy (re-checked on every state change) and return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                # Also poll, so predicates on state outside the emulator work too.
                await asyncio.wait_for(changed.wait(), min(remaining, 0.05))

    async def wait_for_message(
        self,
        channel_id: int,
        predicate: Callable[[JSONDict], bool] | None = None,
        *,
        after_id: int | None = None,
        timeout: float = 30.0,
    ) -> JSONDict:
        """Oldest stored message in the channel (newer than after_id) matching predicate."""

        def find() -> JSONDict | None:
            for message in self.messages(channel_id):
                if after_id is not None and message["id"] <= after_id:
                    continue
                if predicate is None or predicate(message):
                    return message
            return None

        return await self.wait_until(find, timeout)

    async def wait_bot_ready(self, timeout: float = 10.0) -> None:
        """Wait until a bot identified/resumed and was sent its guilds."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def wait_bot_disconnected(self, timeout: float = 10.0) -> None:
        await self.wait_until(lambda: not self._connections, timeout)

    def assert_clean(self) -> None:
        """Raise AssertionError if the bot called unimplemented routes or broke a handler."""
        problems = [f"unimplemented route: {route}" for route in self.unhandled]
        problems += [f"emulator error: {error}" for error in self.errors]
        if problems:
            raise AssertionError("Discord emulator:\n" + "\n".join(problems))

    # ------------------------------------------------------------ lookups

    def _guild(self, guild_id: int) -> EmuGuild:
        guild = self.guilds.get(int(guild_id))
        if guild is None:
            _not_found(10004, "Guild")
        return guild

    def _channel(self, channel_id: int) -> EmuChannel:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            _not_found(10003, "Channel")
        return channel

    def _user(self, user_id: int) -> EmuUser:
        user = self.users.get(int(user_id))
        if user is None:
            _not_found(10013, "User")
        return user

    def _member(self, guild: EmuGuild, user_id: int) -> EmuMember:
        member = guild.members.get(int(user_id))
        if member is None:
            _not_found(10007, "Member")
        return member

    def _channel_message(self, channel: EmuChannel, message_id: int) -> EmuMessage:
        message = self._messages.get(int(message_id))
        if message is None or message.channel_id != channel.id or message.deleted:
            _not_found(10008, "Message")
        return message

    def _visible_message(self, channel: EmuChannel, message_id: int) -> EmuMessage:
        message = self._channel_message(channel, message_id)
        if message.ephemeral:
            _not_found(10008, "Message")
        return message

    def _check_roles(self, guild: EmuGuild, role_ids: Iterable[int]) -> None:
        unknown = [role_id for role_id in role_ids if role_id not in guild.roles]
        if unknown:
            raise ValueError(f"unknown role ids for guild {guild.id}: {unknown}")

    def _check_application(self, request: web.Request) -> None:
        if int(request.match_info["app_id"]) != self.application_id:
            _not_found(10002, "Application")

    def _permissions(self, guild: EmuGuild, user_id: int) -> int:
        if user_id == guild.owner_id:
            return ALL_PERMISSIONS
        member = guild.members.get(user_id)
        value = guild.roles[guild.id].permissions
        for role_id in member.roles if member else []:
            value |= guild.roles[role_id].permissions
        return ALL_PERMISSIONS if value & PERM_ADMINISTRATOR else value

    # ------------------------------------------------------------ payloads

    def _user_payload(self, user: EmuUser) -> JSONDict:
        return {
            "id": str(user.id),
            "username": user.name,
            "global_name": None if user.bot else user.name,
            "discriminator": "0",
            "avatar": None,
            "banner": None,
            "accent_color": None,
            "bot": user.bot,
            "system": False,
            "public_flags": 0,
            "avatar_decoration_data": None,
        }

    def _client_user_payload(self) -> JSONDict:
        return self._user_payload(self.bot_user) | {
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "flags": 0,
            "email": None,
        }

    def _role_payload(self, role: EmuRole) -> JSONDict:
        payload: JSONDict = {
            "id": str(role.id),
            "name": role.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": role.position,
            "permissions": str(role.permissions),
            "managed": role.managed,
            "mentionable": False,
            "flags": 0,
        }
        if role.bot_id is not None:
            payload["tags"] = {"bot_id": str(role.bot_id)}
        return payload

    def _member_payload(
        self, guild: EmuGuild, member: EmuMember, *, with_user: bool = False
    ) -> JSONDict:
        payload: JSONDict = {
            "roles": [str(role_id) for role_id in member.roles],
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "joined_at": member.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
            "avatar_decoration_data": None,
        }
        if with_user:
            payload["user"] = self._user_payload(self.users[member.user_id])
        return payload

    def _channel_payload(self, channel: EmuChannel) -> JSONDict:
        payload: JSONDict = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "topic": channel.topic,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
            "permission_overwrites": [],
            "flags": 0,
        }
        if channel.is_thread:
            count = len(self._channel_messages.get(channel.id, []))
            payload |= {
                "owner_id": str(channel.owner_id),
                "message_count": count,
                "total_message_sent": count,
                "member_count": 1,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": channel.auto_archive_duration,
                    "archive_timestamp": channel.created_at,
                    "locked": False,
                    "create_timestamp": channel.created_at,
                },
            }
        return payload

    def _guild_payload(self, guild: EmuGuild) -> JSONDict:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "roles": [self._role_payload(role) for role in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "premium_tier": guild.premium_tier,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "vanity_url_code": None,
            "widget_enabled": False,
            "max_members": 500_000,
            "application_id": None,
        }

    def _guild_create_payload(self, guild: EmuGuild, intents: int) -> JSONDict:
        members = [
            member
            for member in guild.members.values()
            if intents & INTENT_GUILD_MEMBERS or member.user_id == self.bot_user.id
        ]
        channels = [channel for channel in guild.channels.values() if not channel.is_thread]
        threads = [channel for channel in guild.channels.values() if channel.is_thread]
        return self._guild_payload(guild) | {
            "joined_at": guild.members[self.bot_user.id].joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "members": [self._member_payload(guild, m, with_user=True) for m in members],
            "channels": [self._channel_payload(channel) for channel in channels],
            "threads": [self._channel_payload(thread) for thread in threads],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _attachment_payload(self, attachment: EmuAttachment) -> JSONDict:
        payload: JSONDict = {
            "id": str(attachment.id),
            "filename": attachment.filename,
            "size": len(attachment.data),
            "url": attachment.url,
            "proxy_url": attachment.url,
            "content_type": attachment.content_type,
        }
        if attachment.description is not None:
            payload["description"] = attachment.description
        if attachment.ephemeral:
            payload["ephemeral"] = True
        return payload

    def _reactions_payload(self, message: EmuMessage) -> list[JSONDict]:
        return [
            {
                "emoji": _emoji_payload(key),
                "count": len(users),
                "count_details": {"burst": 0, "normal": len(users)},
                "burst_colors": [],
                "me_burst": False,
                "burst_me": False,
                "me": self.bot_user.id in users,
                "burst_count": 0,
            }
            for key, users in message.reactions.items()
        ]

    def _message_payload(self, message: EmuMessage, *, with_reference: bool = True) -> JSONDict:
        guild = self.guilds.get(message.guild_id) if message.guild_id else None
        payload: JSONDict = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": self._user_payload(self.users[message.author_id]),
            "content": message.content,
            "timestamp": message.timestamp,
            "edited_timestamp": message.edited_timestamp,
            "tts": message.tts,
            "mention_everyone": message.mention_everyone,
            "mentions": [self._mention_payload(guild, user_id) for user_id in message.mention_ids],
            "mention_roles": [str(role_id) for role_id in message.mention_role_ids],
            "attachments": [self._attachment_payload(a) for a in message.attachments],
            "embeds": copy.deepcopy(message.embeds),
            "components": copy.deepcopy(message.components),
            "reactions": self._reactions_payload(message),
            "pinned": False,
            "type": message.type,
            "flags": message.flags,
        }
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
        if message.nonce is not None:
            payload["nonce"] = message.nonce
        if message.webhook_id is not None:
            payload["webhook_id"] = str(message.webhook_id)
            payload["application_id"] = str(self.application_id)
        if message.interaction_id is not None:
            payload["interaction_metadata"] = self._interaction_metadata(message)
        if message.message_reference is not None:
            payload["message_reference"] = dict(message.message_reference)
            referenced = self._messages.get(int(message.message_reference["message_id"]))
            if with_reference and message.type == MESSAGE_REPLY:
                payload["referenced_message"] = (
                    self._message_payload(referenced, with_reference=False)
                    if referenced and not referenced.deleted
                    else None
                )
        return payload

    def _mention_payload(self, guild: EmuGuild | None, user_id: int) -> JSONDict:
        payload = self._user_payload(self.users[user_id])
        member = guild.members.get(user_id) if guild else None
        if guild and member:
            payload["member"] = self._member_payload(guild, member)
        return payload

    def _interaction_metadata(self, message: EmuMessage) -> JSONDict:
        record = self.interactions[int(message.interaction_id or 0)]
        metadata: JSONDict = {
            "id": str(record.id),
            "type": record.type,
            "user": self._user_payload(self.users[record.user_id]),
            "authorizing_integration_owners": {"0": str(record.guild_id)},
        }
        if record.original_message_id not in (None, message.id):
            metadata["original_response_message_id"] = str(record.original_message_id)
        if record.type == INTERACTION_MESSAGE_COMPONENT:
            metadata["interacted_message_id"] = record.payload["message"]["id"]
        return metadata

    def _event_message_payload(self, message: EmuMessage) -> JSONDict:
        """Message as carried by MESSAGE_CREATE/UPDATE: with the author's member object."""
        payload = self._message_payload(message)
        guild = self.guilds.get(message.guild_id) if message.guild_id else None
        member = guild.members.get(message.author_id) if guild else None
        if guild and member and message.webhook_id is None:
            payload["member"] = self._member_payload(guild, member)
        return payload

    def _command_payload(self, command: EmuCommand) -> JSONDict:
        payload = copy.deepcopy(command.data) | {
            "id": str(command.id),
            "application_id": str(self.application_id),
            "version": str(command.version),
            "type": command.type,
            "description": command.data.get("description", ""),
            "default_member_permissions": command.data.get("default_member_permissions"),
            "nsfw": command.data.get("nsfw", False),
        }
        if command.guild_id is not None:
            payload["guild_id"] = str(command.guild_id)
        return payload

    def _snapshot(self, message: EmuMessage) -> JSONDict:
        """Test-facing view of a stored message (plain ints, attachment bytes included)."""
        return {
            "id": message.id,
            "channel_id": message.channel_id,
            "guild_id": message.guild_id,
            "author_id": message.author_id,
            "content": message.content,
            "embeds": copy.deepcopy(message.embeds),
            "components": copy.deepcopy(message.components),
            "attachments": [
                {
                    "id": a.id,
                    "filename": a.filename,
                    "url": a.url,
                    "size": len(a.data),
                    "content_type": a.content_type,
                    "description": a.description,
                    "data": a.data,
                }
                for a in message.attachments
            ],
            "reactions": {key: list(users) for key, users in message.reactions.items()},
            "edits": [
                {
                    "timestamp": edit.timestamp,
                    "content": edit.content,
                    "embeds": copy.deepcopy(edit.embeds),
                    "attachment_ids": list(edit.attachment_ids),
                }
                for edit in message.edits
            ],
            "allowed_mentions": copy.deepcopy(message.allowed_mentions),
            "message_reference": _reference_snapshot(message.message_reference),
            "mention_ids": list(message.mention_ids),
            "mention_role_ids": list(message.mention_role_ids),
            "mention_everyone": message.mention_everyone,
            "flags": message.flags,
            "ephemeral": message.ephemeral,
            "type": message.type,
            "timestamp": message.timestamp,
            "edited_timestamp": message.edited_timestamp,
            "webhook_id": message.webhook_id,
            "interaction_id": message.interaction_id,
            "deleted": message.deleted,
        }

    # ------------------------------------------------------------ state changes

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _add_channel(self, guild: EmuGuild, channel: EmuChannel) -> None:
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        self._channel_messages[channel.id] = []
        self._notify()

    def _store_attachment(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        description: str | None = None,
    ) -> EmuAttachment:
        attachment = self._new_attachment(channel_id, filename, data, content_type, description)
        self._attachments[attachment.id] = attachment
        return attachment

    def _new_attachment(
        self,
        channel_id: int,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        description: str | None = None,
    ) -> EmuAttachment:
        attachment_id = self._ids.next()
        if not content_type or content_type == "application/octet-stream":
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        url = f"{self.base_url}/cdn/attachments/{channel_id}/{attachment_id}/{quote(filename)}"
        return EmuAttachment(
            attachment_id, channel_id, filename, data, content_type, url, description
        )

    def _store_message(self, message: EmuMessage) -> None:
        self._messages[message.id] = message
        self._channel_messages.setdefault(message.channel_id, []).append(message.id)
        for attachment in message.attachments:
            self._attachments[attachment.id] = attachment
        channel = self.channels.get(message.channel_id)
        if channel is not None and not message.ephemeral:
            channel.last_message_id = message.id
        self._notify()

    def _reference(self, channel: EmuChannel, message_id: int) -> JSONDict:
        return {
            "type": 0,
            "message_id": str(message_id),
            "channel_id": str(channel.id),
            "guild_id": str(channel.guild_id),
        }

    def _set_mentions(self, message: EmuMessage, guild: EmuGuild, allowed: JSONDict | None) -> None:
        """Fill the mentions the way Discord does: parsed from content, filtered by allowed."""
        users = [int(uid) for uid in _USER_MENTION.findall(message.content)]
        users = list(dict.fromkeys(uid for uid in users if uid in self.users))
        roles = [int(rid) for rid in _ROLE_MENTION.findall(message.content)]
        roles = list(dict.fromkeys(rid for rid in roles if rid in guild.roles))
        everyone = "@everyone" in message.content or "@here" in message.content
        replied_user = True
        if allowed is not None:
            parse = set(allowed.get("parse") or [])
            allowed_users = set(_ids(allowed.get("users") or []))
            allowed_roles = set(_ids(allowed.get("roles") or []))
            users = [uid for uid in users if "users" in parse or uid in allowed_users]
            roles = [rid for rid in roles if "roles" in parse or rid in allowed_roles]
            everyone = everyone and "everyone" in parse
            replied_user = bool(allowed.get("replied_user", False))
        reference = message.message_reference
        if reference is not None and replied_user and message.type == MESSAGE_REPLY:
            referenced = self._messages.get(int(reference["message_id"]))
            if referenced and referenced.author_id not in users:
                users.append(referenced.author_id)
        message.mention_ids = users
        message.mention_role_ids = roles
        message.mention_everyone = everyone

    def _add_reaction(self, message: EmuMessage, user_id: int, key: str) -> None:
        users = message.reactions.get(key)
        if users is None:
            if len(message.reactions) >= MAX_REACTION_EMOJIS:
                raise ApiError(400, 30010, "Maximum number of reactions reached (20)")
            users = message.reactions[key] = []
        if user_id in users:
            return
        users.append(user_id)
        self._notify()
        payload = self._reaction_event(message, user_id, key)
        guild = self.guilds.get(message.guild_id) if message.guild_id else None
        if guild and user_id in guild.members:
            payload["member"] = self._member_payload(guild, guild.members[user_id], with_user=True)
        payload["message_author_id"] = str(message.author_id)
        payload["burst_colors"] = []
        self._dispatch("MESSAGE_REACTION_ADD", payload, intent=INTENT_GUILD_MESSAGE_REACTIONS)

    def _remove_reaction(self, message: EmuMessage, user_id: int, key: str) -> None:
        users = message.reactions.get(key)
        if not users or user_id not in users:
            return
        users.remove(user_id)
        if not users:
            del message.reactions[key]
        self._notify()
        payload = self._reaction_event(message, user_id, key)
        self._dispatch("MESSAGE_REACTION_REMOVE", payload, intent=INTENT_GUILD_MESSAGE_REACTIONS)

    def _reaction_event(self, message: EmuMessage, user_id: int, key: str) -> JSONDict:
        payload: JSONDict = {
            "user_id": str(user_id),
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
            "emoji": _emoji_payload(key),
            "type": 0,
            "burst": False,
        }
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
        return payload

    def _delete_message(self, message: EmuMessage) -> None:
        message.deleted = True
        self._notify()
        if message.ephemeral:
            return
        payload: JSONDict = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
        self._dispatch("MESSAGE_DELETE", payload, intent=INTENT_GUILD_MESSAGES)

    # ------------------------------------------------------------ message bodies

    async def _read_body(self, request: web.Request) -> tuple[JSONDict, dict[int, _Upload]]:
        """JSON body, or multipart payload_json + files[n]."""
        if not request.content_type.startswith("multipart/"):
            raw = await request.read()
            body = json.loads(raw) if raw else {}
            return body, {}
        payload: JSONDict = {}
        uploads: dict[int, _Upload] = {}
        total = 0
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            if name == "payload_json":
                payload = json.loads(await part.text())
                continue
            match = _FILE_FIELD.fullmatch(name)
            index = int(match[1]) if match else len(uploads)
            data = bytes(await part.read(decode=False))
            total += len(data)
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            uploads[index] = _Upload(part.filename or name, data, content_type)
        channel_id = request.match_info.get("channel_id")
        if total > self.upload_limit(int(channel_id) if channel_id else None):
            raise ApiError(413, 40005, "Request entity too large")
        return payload, uploads

    def _build_attachments(
        self,
        channel_id: int,
        payload: JSONDict,
        uploads: dict[int, _Upload],
        existing: list[EmuAttachment],
    ) -> list[EmuAttachment]:
        """Resolve the payload's attachments list against new uploads and kept attachments."""
        specs = payload.get("attachments")
        if specs is None:
            specs = [{"id": a.id} for a in existing] + [{"id": index} for index in uploads]
        kept = {a.id: a for a in existing}
        result: list[EmuAttachment] = []
        used: set[int] = set()
        for spec in specs:
            spec_id = int(spec["id"])
            upload = uploads.get(spec_id)
            if upload is not None and spec_id not in used:
                used.add(spec_id)
                filename = spec.get("filename") or upload.filename
                result.append(
                    self._new_attachment(
                        channel_id,
                        filename,
                        upload.data,
                        upload.content_type,
                        spec.get("description"),
                    )
                )
            elif spec_id in kept:
                result.append(kept[spec_id])
            else:
                errors = {
                    "attachments": {
                        "0": {"id": _field_error("ATTACHMENT_NOT_FOUND", "Unknown attachment")}
                    }
                }
                raise _invalid_form(errors)
        return result

    def _validate_message(
        self, content: str, embeds: list[JSONDict], attachment_count: int
    ) -> None:
        errors: JSONDict = {}
        if len(content) > MAX_CONTENT_LENGTH:
            errors["content"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT_LENGTH} or fewer in length."
            )
        if len(embeds) > MAX_EMBEDS:
            errors["embeds"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length."
            )
        else:
            embed_errors = self._embed_errors(embeds)
            if embed_errors:
                errors["embeds"] = embed_errors
        if attachment_count > MAX_ATTACHMENTS:
            errors["attachments"] = _field_error(
                "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_ATTACHMENTS} or fewer in length."
            )
        if errors:
            raise _invalid_form(errors)

    def _embed_errors(self, embeds: list[JSONDict]) -> JSONDict:
        errors: JSONDict = {}
        total = 0
        for index, embed in enumerate(embeds):
            embed_errors: JSONDict = {}
            for key, limit in EMBED_TEXT_LIMITS.items():
                text = str(embed.get(key) or "")
                total += len(text)
                if len(text) > limit:
                    embed_errors[key] = _field_error(
                        "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
                    )
            fields = embed.get("fields") or []
            if len(fields) > MAX_EMBED_FIELDS:
                embed_errors["fields"] = _field_error(
                    "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBED_FIELDS} or fewer in length."
                )
            for field_index, embed_field in enumerate(fields):
                for key, limit in EMBED_FIELD_LIMITS.items():
                    text = str(embed_field.get(key) or "")
                    total += len(text)
                    if len(text) > limit:
                        embed_errors.setdefault("fields", {}).setdefault(str(field_index), {})[
                            key
                        ] = _field_error(
                            "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
                        )
            total += len(str((embed.get("footer") or {}).get("text") or ""))
            total += len(str((embed.get("author") or {}).get("name") or ""))
            if embed_errors:
                errors[str(index)] = embed_errors
        if total > MAX_EMBED_TOTAL and not errors:
            return _field_error(
                "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"
            )
        return errors

    def _check_not_empty(self, message: EmuMessage, payload: JSONDict) -> None:
        if not (
            message.content
            or message.embeds
            or message.attachments
            or message.components
            or payload.get("sticker_ids")
            or payload.get("poll")
        ):
            raise ApiError(400, 50006, "Cannot send an empty message")

    def _new_bot_message(
        self,
        channel: EmuChannel,
        payload: JSONDict,
        uploads: dict[int, _Upload],
        *,
        flags: int = 0,
        msg_type: int = MESSAGE_DEFAULT,
        interaction: InteractionRecord | None = None,
        allow_empty: bool = False,
    ) -> EmuMessage:
        """Validate and store a message authored by the bot (REST or interaction webhook)."""
        attachments = self._build_attachments(channel.id, payload, uploads, [])
        content = str(payload.get("content") or "")
        embeds = list(payload.get("embeds") or [])
        self._validate_message(content, embeds, len(attachments))
        message = EmuMessage(
            id=self._ids.next(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=self.bot_user.id,
            content=content,
            embeds=embeds,
            attachments=attachments,
            components=list(payload.get("components") or []),
            allowed_mentions=payload.get("allowed_mentions"),
            flags=flags | (int(payload.get("flags") or 0) & SETTABLE_MESSAGE_FLAGS),
            type=msg_type,
            nonce=payload.get("nonce"),
            tts=bool(payload.get("tts", False)),
        )
        if interaction is not None:
            message.webhook_id = self.application_id
            message.interaction_id = interaction.id
        if not allow_empty:
            self._check_not_empty(message, payload)
        reference = payload.get("message_reference")
        if reference:
            self._attach_reference(message, channel, reference)
        self._set_mentions(message, self._guild(channel.guild_id), message.allowed_mentions)
        self._store_message(message)
        if not message.ephemeral:
            self._dispatch_message("MESSAGE_CREATE", message)
        return message

    def _attach_reference(
        self, message: EmuMessage, channel: EmuChannel, reference: JSONDict
    ) -> None:
        referenced_id = int(reference["message_id"])
        target = self._messages.get(referenced_id)
        if target is None or target.deleted or target.ephemeral:
            if reference.get("fail_if_not_exists", True):
                raise _invalid_form(
                    {
                        "message_reference": _field_error(
                            "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                        )
                    }
                )
            return
        ref_channel = self.channels[target.channel_id]
        message.message_reference = self._reference(ref_channel, target.id)
        message.message_reference["type"] = int(reference.get("type", 0))
        if message.type == MESSAGE_DEFAULT:
            message.type = MESSAGE_REPLY

    def _edit_message(
        self,
        message: EmuMessage,
        payload: JSONDict,
        uploads: dict[int, _Upload],
        *,
        record_edit: bool = True,
    ) -> None:
        """Apply a PATCH body; record_edit False completes a deferred 'thinking' message."""
        content = str(payload["content"] or "") if "content" in payload else message.content
        embeds = list(payload["embeds"] or []) if "embeds" in payload else message.embeds
        attachments = message.attachments
        if "attachments" in payload or uploads:
            attachments = self._build_attachments(
                message.channel_id, payload, uploads, message.attachments
            )
        self._validate_message(content, embeds, len(attachments))
        message.content = content
        message.embeds = embeds
        message.attachments = attachments
        for attachment in attachments:
            self._attachments[attachment.id] = attachment
        if "components" in payload:
            message.components = list(payload["components"] or [])
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload["allowed_mentions"]
        if "flags" in payload:
            kept = message.flags & ~SETTABLE_MESSAGE_FLAGS
            message.flags = kept | (int(payload["flags"] or 0) & SETTABLE_MESSAGE_FLAGS)
        message.flags &= ~FLAG_LOADING
        if message.guild_id is not None:
            self._set_mentions(message, self._guild(message.guild_id), message.allowed_mentions)
        if record_edit:
            message.edited_timestamp = _now_iso()
            message.edits.append(
                EmuEdit(
                    message.edited_timestamp,
                    content,
                    copy.deepcopy(embeds),
                    [a.id for a in attachments],
                )
            )
        self._notify()
        if not message.ephemeral:
            self._dispatch_message("MESSAGE_UPDATE", message)

    # ------------------------------------------------------------ gateway

    def _dispatch(self, event: str, data: JSONDict, *, intent: int = 0) -> None:
        """Send a DISPATCH to the current session if its intents allow it."""
        session = self._session
        if session is None or (intent and not session.intents & intent):
            return
        session.seq += 1
        frame = json.dumps({"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data})
        session.history.append((session.seq, frame))
        self.dispatched.append((event, data))
        if session.connection is not None:
            session.connection.queue.put_nowait(frame)

    def _dispatch_message(self, event: str, message: EmuMessage) -> None:
        session = self._session
        if session is None:
            return
        payload = self._event_message_payload(message)
        sees_content = (
            session.intents & INTENT_MESSAGE_CONTENT
            or message.author_id == self.bot_user.id
            or self.bot_user.id in message.mention_ids
        )
        if not sees_content:
            payload |= {"content": "", "embeds": [], "attachments": [], "components": []}
        self._dispatch(event, payload, intent=INTENT_GUILD_MESSAGES)

    def _dispatch_guild_create(self, guild: EmuGuild, *, joined: bool) -> None:
        if self._session is not None:
            payload = self._guild_create_payload(guild, self._session.intents)
            if joined:
                # A guild joined after READY comes without "unavailable" (discord.py: guild_join).
                del payload["unavailable"]
            self._dispatch("GUILD_CREATE", payload, intent=INTENT_GUILDS)

    def _send(self, conn: _Connection, op: int, data: Any) -> None:
        conn.queue.put_nowait(json.dumps({"op": op, "d": data}))

    async def _flush(self, timeout: float = 5.0) -> None:
        """Wait until queued gateway frames were written to the bot's socket."""
        session = self._session
        if session is None or session.connection is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.connection.queue.join(), timeout)

    async def _writer(self, conn: _Connection) -> None:
        while True:
            frame = await conn.queue.get()
            try:
                if not conn.ws.closed:
                    await conn.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                pass
            finally:
                conn.queue.task_done()

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.gateway_queries.append(dict(request.query))
        conn = _Connection(ws)
        self._connections.add(conn)
        conn.writer = asyncio.create_task(self._writer(conn))
        client_close_code: int | None = None
        try:
            if request.query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"emulator speaks encoding=json only")
                return ws
            self._send(conn, OP_HELLO, {"heartbeat_interval": self.heartbeat_interval_ms})
            while True:
                msg = await ws.receive()
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_message(conn, json.loads(msg.data))
                elif msg.type is WSMsgType.BINARY:
                    await ws.close(code=4002, message=b"binary frames are not supported")
                elif msg.type is WSMsgType.CLOSE:
                    client_close_code = int(msg.data)
                    break
                else:
                    break
        finally:
            await self._drop_connection(conn, client_close_code)
        return ws

    async def _drop_connection(self, conn: _Connection, client_close_code: int | None) -> None:
        self._connections.discard(conn)
        if conn.writer is not None:
            conn.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conn.writer
        while not conn.queue.empty():
            conn.queue.get_nowait()
            conn.queue.task_done()
        session = conn.session
        if session is not None and session.connection is conn:
            session.connection = None
            self._ready.clear()
            # Like Discord: a clean close (1000/1001) ends the session, anything else may RESUME.
            if client_close_code in (1000, 1001) and self._session is session:
                self._session = None
        if not conn.ws.closed:
            await conn.ws.close()
        self._notify()

    async def _on_gateway_message(self, conn: _Connection, msg: JSONDict) -> None:
        op = msg.get("op")
        data = msg.get("d")
        if op == OP_HEARTBEAT:
            self.heartbeat_count += 1
            self._send(conn, OP_HEARTBEAT_ACK, None)
        elif op == OP_IDENTIFY:
            await self._identify(conn, data or {})
        elif op == OP_RESUME:
            await self._resume(conn, data or {})
        elif conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
        elif op == OP_REQUEST_GUILD_MEMBERS:
            self._request_guild_members(data or {})
        elif op in (OP_PRESENCE_UPDATE, OP_VOICE_STATE_UPDATE):
            pass
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, conn: _Connection, data: JSONDict) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if "intents" not in data:
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        self.identify_payloads.append(data)
        self._detach_current_session()
        session = _Session(id=secrets.token_hex(16), intents=int(data["intents"]))
        session.connection = conn
        conn.session = session
        self._session = session
        self._dispatch("READY", self._ready_payload(session))
        for guild in self.guilds.values():
            self._dispatch_guild_create(guild, joined=False)
        self._ready.set()
        self._notify()

    def _detach_current_session(self) -> None:
        """A new IDENTIFY replaces the previous session (one bot at a time)."""
        old = self._session
        if old is not None and old.connection is not None:
            old.connection.session = None
            old.connection = None

    def _ready_payload(self, session: _Session) -> JSONDict:
        return {
            "v": API_VERSION,
            "user": self._client_user_payload(),
            "guilds": [{"id": str(gid), "unavailable": True} for gid in self.guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": (1 << 15) | (1 << 19)},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "_trace": ["discord-emulator"],
        }

    async def _resume(self, conn: _Connection, data: JSONDict) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        session = self._session
        if session is None or data.get("session_id") != session.id:
            self._send(conn, OP_INVALID_SESSION, False)
            return
        if session.connection is not None and session.connection is not conn:
            session.connection.session = None
        session.connection = conn
        conn.session = session
        last_seen = int(data.get("seq") or 0)
        for seq, frame in session.history:
            if seq > last_seen:
                conn.queue.put_nowait(frame)
        self.resume_count += 1
        self._dispatch("RESUMED", {"_trace": ["discord-emulator"]})
        self._ready.set()
        self._notify()

    def _request_guild_members(self, data: JSONDict) -> None:
        guild_ids = data.get("guild_id")
        for guild_id in guild_ids if isinstance(guild_ids, list) else [guild_ids]:
            guild = self.guilds.get(int(guild_id))
            if guild is None:
                continue
            members = list(guild.members.values())
            wanted = data.get("user_ids")
            if wanted is not None:
                wanted_ids = set(_ids(wanted if isinstance(wanted, list) else [wanted]))
                members = [m for m in members if m.user_id in wanted_ids]
            else:
                query = str(data.get("query") or "").lower()
                members = [
                    m for m in members if self.users[m.user_id].name.lower().startswith(query)
                ]
            limit = int(data.get("limit") or 0)
            if limit:
                members = members[:limit]
            payload: JSONDict = {
                "guild_id": str(guild.id),
                "members": [self._member_payload(guild, m, with_user=True) for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if data.get("nonce") is not None:
                payload["nonce"] = data["nonce"]
            self._dispatch("GUILD_MEMBERS_CHUNK", payload)

    # ------------------------------------------------------------ interactions

    async def _create_interaction(
        self,
        interaction_type: int,
        channel: EmuChannel,
        user_id: int,
        data: JSONDict,
        name: str,
        message: EmuMessage | None = None,
    ) -> InteractionRecord:
        guild = self._guild(channel.guild_id)
        member = self._member(guild, user_id)
        interaction_id = self._ids.next()
        token = secrets.token_urlsafe(48)
        member_payload = self._member_payload(guild, member, with_user=True)
        member_payload["permissions"] = str(self._permissions(guild, user_id))
        payload: JSONDict = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": interaction_type,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "channel_id": str(channel.id),
            "channel": self._channel_payload(channel)
            | {"permissions": str(self._permissions(guild, user_id))},
            "member": member_payload,
            "token": token,
            "version": 1,
            "app_permissions": str(self._permissions(guild, self.bot_user.id)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": self.max_upload_bytes,
        }
        if message is not None:
            payload["message"] = self._message_payload(message)
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=interaction_type,
            name=name,
            guild_id=guild.id,
            channel_id=channel.id,
            user_id=user_id,
            payload=payload,
            created_at=time.monotonic(),
            emulator=self,
        )
        self.interactions[interaction_id] = record
        self._dispatch("INTERACTION_CREATE", payload)
        self._notify()
        await self._flush()
        return record

    def _find_command(self, name: str, guild_id: int) -> EmuCommand:
        for scope in (guild_id, None):
            for command in self.commands.values():
                if command.guild_id == scope and command.name == name and command.type == 1:
                    return command
        known = sorted({command.name for command in self.commands.values()})
        raise LookupError(f"no chat-input command {name!r} registered; registered: {known}")

    def _command_options(
        self,
        command: EmuCommand,
        channel: EmuChannel,
        values: dict[str, object],
        subcommand: str | None,
        group: str | None,
        resolved: JSONDict,
    ) -> list[JSONDict]:
        """Build the nested options list (group > subcommand > values) for a command."""
        definitions: list[JSONDict] = command.data.get("options") or []
        path: list[JSONDict] = []
        if group is not None:
            group_def = self._option_def(definitions, group, OPTION_SUB_COMMAND_GROUP)
            path.append({"type": OPTION_SUB_COMMAND_GROUP, "name": group})
            definitions = group_def.get("options") or []
        if subcommand is not None:
            sub_def = self._option_def(definitions, subcommand, OPTION_SUB_COMMAND)
            path.append({"type": OPTION_SUB_COMMAND, "name": subcommand})
            definitions = sub_def.get("options") or []
        if any(d["type"] in (OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP) for d in definitions):
            raise ValueError(f"command {command.name!r} needs a subcommand (and maybe a group)")
        leaf = [
            self._option_value(definitions, name, value, channel, resolved)
            for name, value in values.items()
        ]
        missing = [d["name"] for d in definitions if d.get("required") and d["name"] not in values]
        if missing:
            raise ValueError(f"missing required options for {command.name!r}: {missing}")
        options = leaf
        for level in reversed(path):
            options = [level | {"options": options}]
        return options

    @staticmethod
    def _option_def(definitions: list[JSONDict], name: str, option_type: int) -> JSONDict:
        for definition in definitions:
            if definition["name"] == name and definition["type"] == option_type:
                return definition
        known = [d["name"] for d in definitions]
        raise ValueError(f"unknown option {name!r} of type {option_type}; known: {known}")

    def _option_value(
        self,
        definitions: list[JSONDict],
        name: str,
        value: object,
        channel: EmuChannel,
        resolved: JSONDict,
    ) -> JSONDict:
        definition = next((d for d in definitions if d["name"] == name), None)
        if definition is None:
            raise ValueError(f"unknown option {name!r}; known: {[d['name'] for d in definitions]}")
        option_type = int(definition["type"])
        choices = [choice["value"] for choice in definition.get("choices") or []]
        if choices and value not in choices:
            raise ValueError(f"option {name!r} must be one of {choices}, got {value!r}")
        wire_value = self._wire_value(option_type, value, channel, resolved)
        return {"name": name, "type": option_type, "value": wire_value}

    def _wire_value(
        self, option_type: int, value: object, channel: EmuChannel, resolved: JSONDict
    ) -> Any:
        simple: dict[int, Callable[[Any], Any]] = {
            OPTION_STRING: str,
            OPTION_INTEGER: int,
            OPTION_BOOLEAN: bool,
            OPTION_NUMBER: float,
        }
        if option_type in simple:
            return simple[option_type](value)
        if option_type == OPTION_ATTACHMENT:
            filename, data = value  # type: ignore[misc]
            attachment = self._store_attachment(channel.id, str(filename), bytes(data))
            attachment.ephemeral = True
            resolved.setdefault("attachments", {})[str(attachment.id)] = self._attachment_payload(
                attachment
            )
            return str(attachment.id)
        guild = self._guild(channel.guild_id)
        target_id = int(value)  # type: ignore[call-overload]
        if option_type in (OPTION_USER, OPTION_MENTIONABLE) and target_id in self.users:
            self._resolve_user(guild, target_id, resolved)
        elif option_type in (OPTION_ROLE, OPTION_MENTIONABLE) and target_id in guild.roles:
            role_payload = self._role_payload(guild.roles[target_id])
            resolved.setdefault("roles", {})[str(target_id)] = role_payload
        elif option_type == OPTION_CHANNEL and target_id in guild.channels:
            target = guild.channels[target_id]
            channel_payload = self._channel_payload(target) | {
                "permissions": str(self._permissions(guild, self.bot_user.id))
            }
            resolved.setdefault("channels", {})[str(target_id)] = channel_payload
        else:
            raise ValueError(f"option type {option_type}: unknown id {target_id}")
        return str(target_id)

    def _resolve_user(self, guild: EmuGuild, user_id: int, resolved: JSONDict) -> None:
        resolved.setdefault("users", {})[str(user_id)] = self._user_payload(self.users[user_id])
        member = guild.members.get(user_id)
        if member is not None:
            member_payload = self._member_payload(guild, member)
            member_payload["permissions"] = str(self._permissions(guild, user_id))
            resolved.setdefault("members", {})[str(user_id)] = member_payload

    def _interaction_for_callback(self, request: web.Request) -> InteractionRecord:
        record = self.interactions.get(int(request.match_info["interaction_id"]))
        if record is None or record.token != request.match_info["token"]:
            _not_found(10062, "interaction")
        if record.response_type is not None:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - record.created_at > self.interaction_ack_timeout:
            _not_found(10062, "interaction")
        return record

    def _interaction_for_webhook(self, request: web.Request) -> InteractionRecord:
        if int(request.match_info["app_id"]) != self.application_id:
            _not_found(10015, "Webhook")
        token = request.match_info["token"]
        for record in self.interactions.values():
            if record.token == token and record.response_type is not None:
                return record
        _not_found(10015, "Webhook")

    def _interaction_message(self, record: InteractionRecord, message_ref: str) -> EmuMessage:
        if message_ref == "@original":
            message_id = record.original_message_id
        else:
            message_id = int(message_ref)
            if message_id not in (record.original_message_id, *record.followup_message_ids):
                message_id = None
        message = self._messages.get(message_id) if message_id is not None else None
        if message is None or message.deleted:
            _not_found(10008, "Message")
        return message

    def _respond_to_interaction(
        self, record: InteractionRecord, body: JSONDict, uploads: dict[int, _Upload]
    ) -> EmuMessage | None:
        response_type = int(body.get("type", 0))
        data: JSONDict = body.get("data") or {}
        channel = self._channel(record.channel_id)
        ephemeral = int(data.get("flags") or 0) & FLAG_EPHEMERAL
        msg_type = (
            MESSAGE_CHAT_INPUT_COMMAND
            if record.type == INTERACTION_APPLICATION_COMMAND
            else MESSAGE_DEFAULT
        )
        message: EmuMessage | None = None
        if response_type == CALLBACK_CHANNEL_MESSAGE:
            message = self._new_bot_message(
                channel, data, uploads, flags=ephemeral, msg_type=msg_type, interaction=record
            )
        elif response_type == CALLBACK_DEFERRED_CHANNEL_MESSAGE:
            message = self._new_bot_message(
                channel,
                {},
                {},
                flags=ephemeral | FLAG_LOADING,
                msg_type=msg_type,
                interaction=record,
                allow_empty=True,
            )
        elif response_type in (CALLBACK_DEFERRED_UPDATE_MESSAGE, CALLBACK_UPDATE_MESSAGE):
            if record.type != INTERACTION_MESSAGE_COMPONENT:
                raise _invalid_form(
                    {
                        "type": _field_error(
                            "INTERACTION_CALLBACK_TYPE_INVALID",
                            "Invalid callback for this interaction",
                        )
                    }
                )
            message = self._messages[int(record.payload["message"]["id"])]
            if response_type == CALLBACK_UPDATE_MESSAGE:
                self._edit_message(message, data, uploads)
        elif response_type not in (CALLBACK_PONG, CALLBACK_AUTOCOMPLETE_RESULT, CALLBACK_MODAL):
            error = _field_error("BASE_TYPE_CHOICES", f"Unknown callback type {response_type}")
            raise _invalid_form({"type": error})
        record.response_type = response_type
        record.response_data = data
        if message is not None:
            record.original_message_id = message.id
        self._notify()
        return message

    def _callback_response(self, record: InteractionRecord, message: EmuMessage | None) -> JSONDict:
        response_type = record.response_type or 0
        interaction: JSONDict = {"id": str(record.id), "type": record.type}
        resource: JSONDict = {"type": response_type}
        if message is not None:
            interaction |= {
                "response_message_id": str(message.id),
                "response_message_loading": bool(message.flags & FLAG_LOADING),
                "response_message_ephemeral": message.ephemeral,
            }
            resource["message"] = self._message_payload(message)
        return {"interaction": interaction, "resource": resource}

    # ------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Any],
    ) -> web.StreamResponse:
        response: web.StreamResponse
        try:
            if self._needs_auth(request) and not self._authorized(request):
                response = ApiError(401, 0, "401: Unauthorized").response()
            else:
                response = await handler(request)
        except ApiError as exc:
            response = exc.response()
        except web.HTTPException:
            raise
        except Exception as exc:  # reported through assert_clean()
            self.errors.append(f"{request.method} {request.path}: {exc!r}")
            response = ApiError(400, 0, f"emulator error: {exc!r}").response()
        self.requests.append(
            RequestRecord(request.method, request.path, dict(request.query), response.status)
        )
        return response

    @staticmethod
    def _needs_auth(request: web.Request) -> bool:
        path = request.path
        if not path.startswith(API_PREFIX + "/"):
            return False
        return not path.startswith((f"{API_PREFIX}/webhooks/", f"{API_PREFIX}/interactions/"))

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {self.token}"

    def _add_routes(self, app: web.Application) -> None:
        channel = "/channels/{channel_id:\\d+}"
        message = channel + "/messages/{message_id:\\d+}"
        reactions = message + "/reactions"
        app_base = "/applications/{app_id:\\d+}"
        guild = "/guilds/{guild_id:\\d+}"
        webhook = "/webhooks/{app_id:\\d+}/{token}"
        api_routes: list[tuple[str, str, Callable[[web.Request], Any]]] = [
            ("GET", "/users/@me", self._get_me),
            ("GET", "/users/{user_id:\\d+}", self._get_user),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway_bot),
            ("GET", app_base + "/commands", self._get_commands),
            ("PUT", app_base + "/commands", self._put_commands),
            ("GET", app_base + guild + "/commands", self._get_commands),
            ("PUT", app_base + guild + "/commands", self._put_commands),
            ("GET", guild, self._get_guild),
            ("GET", guild + "/channels", self._get_guild_channels),
            ("GET", guild + "/roles", self._get_guild_roles),
            ("GET", guild + "/members", self._get_guild_members),
            ("GET", guild + "/members/{user_id:\\d+}", self._get_guild_member),
            ("GET", channel, self._get_channel),
            ("POST", channel + "/typing", self._post_typing),
            ("GET", channel + "/messages", self._get_messages),
            ("POST", channel + "/messages", self._post_message),
            ("GET", message, self._get_message),
            ("PATCH", message, self._patch_message),
            ("DELETE", message, self._delete_message_route),
            ("PUT", reactions + "/{emoji}/@me", self._put_own_reaction),
            ("DELETE", reactions + "/{emoji}/@me", self._delete_own_reaction),
            ("DELETE", reactions + "/{emoji}/{user_id:\\d+}", self._delete_user_reaction),
            ("GET", reactions + "/{emoji}", self._get_reaction_users),
            ("DELETE", reactions + "/{emoji}", self._delete_emoji_reactions),
            ("DELETE", reactions, self._delete_all_reactions),
            ("POST", message + "/threads", self._post_thread_from_message),
            ("POST", channel + "/threads", self._post_thread),
            (
                "POST",
                "/interactions/{interaction_id:\\d+}/{token}/callback",
                self._post_interaction_callback,
            ),
            ("POST", webhook, self._post_followup),
            ("GET", webhook + "/messages/{message_ref}", self._get_webhook_message),
            ("PATCH", webhook + "/messages/{message_ref}", self._patch_webhook_message),
            ("DELETE", webhook + "/messages/{message_ref}", self._delete_webhook_message),
        ]
        for method, path, handler in api_routes:
            app.router.add_route(method, API_PREFIX + path, handler)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get(
            "/cdn/attachments/{channel_id:\\d+}/{attachment_id:\\d+}/{filename}", self._get_cdn
        )
        app.router.add_route("*", "/{tail:.*}", self._unhandled)

    async def _unhandled(self, request: web.Request) -> web.Response:
        self.unhandled.append(f"{request.method} {request.path}")
        self._notify()
        return _json_response({"message": "emulator: route not implemented", "code": 0}, 404)

    # ------------------------------------------------------------ REST: users, app, gateway

    async def _get_me(self, request: web.Request) -> web.Response:
        return _json_response(self._client_user_payload())

    async def _get_user(self, request: web.Request) -> web.Response:
        return _json_response(self._user_payload(self._user(int(request.match_info["user_id"]))))

    async def _get_application(self, request: web.Request) -> web.Response:
        owner = EmuUser(id=0, name="emulator-owner")
        return _json_response(
            {
                "id": str(self.application_id),
                "name": self.bot_user.name,
                "icon": None,
                "description": "",
                "summary": "",
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": self._user_payload(owner),
                "team": None,
                "flags": (1 << 15) | (1 << 19),
                "bot": self._user_payload(self.bot_user),
                "approximate_guild_count": len(self.guilds),
                "redirect_uris": [],
                "interactions_endpoint_url": None,
            }
        )

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json_response({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _json_response({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    # ------------------------------------------------------------ REST: application commands

    def _command_scope(self, request: web.Request) -> int | None:
        self._check_application(request)
        guild_id = request.match_info.get("guild_id")
        return self._guild(int(guild_id)).id if guild_id else None

    async def _get_commands(self, request: web.Request) -> web.Response:
        guild_id = self._command_scope(request)
        return _json_response(self.registered_commands(guild_id))

    async def _put_commands(self, request: web.Request) -> web.Response:
        guild_id = self._command_scope(request)
        body, _ = await self._read_body(request)
        if not isinstance(body, list):
            raise _invalid_form(_field_error("BASE_TYPE_ARRAY", "Expected a list"))
        self._validate_commands(body)
        previous = {
            (command.name, command.type): command
            for command in self.commands.values()
            if command.guild_id == guild_id
        }
        for command in previous.values():
            del self.commands[command.id]
        for data in body:
            key = (str(data["name"]), int(data.get("type", 1)))
            old = previous.get(key)
            command_id = old.id if old else self._ids.next()
            version = (old.version + 1) if old else 1
            self.commands[command_id] = EmuCommand(
                command_id, guild_id, copy.deepcopy(data), version
            )
        self._notify()
        return _json_response(self.registered_commands(guild_id))

    def _validate_commands(self, body: list[JSONDict]) -> None:
        errors: JSONDict = {}
        seen: set[tuple[str, int]] = set()
        for index, data in enumerate(body):
            command_errors: JSONDict = {}
            name = str(data.get("name", ""))
            command_type = int(data.get("type", 1))
            if not _COMMAND_NAME.match(name) or (command_type == 1 and name != name.lower()):
                command_errors["name"] = _field_error(
                    "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
                )
            if command_type == 1 and not 1 <= len(str(data.get("description", ""))) <= 100:
                command_errors["description"] = _field_error(
                    "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                )
            if len(data.get("options") or []) > 25:
                command_errors["options"] = _field_error(
                    "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            if (name, command_type) in seen:
                command_errors["name"] = _field_error(
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            seen.add((name, command_type))
            if command_errors:
                errors[str(index)] = command_errors
        if errors:
            raise _invalid_form(errors)

    # ------------------------------------------------------------ REST: guilds, channels

    async def _get_guild(self, request: web.Request) -> web.Response:
        guild = self._guild(int(request.match_info["guild_id"]))
        payload = self._guild_payload(guild)
        if request.query.get("with_counts") in _TRUE_QUERY_VALUES:
            payload["approximate_member_count"] = len(guild.members)
            payload["approximate_presence_count"] = 0
        return _json_response(payload)

    async def _get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self._guild(int(request.match_info["guild_id"]))
        channels = [c for c in guild.channels.values() if not c.is_thread]
        return _json_response([self._channel_payload(channel) for channel in channels])

    async def _get_guild_roles(self, request: web.Request) -> web.Response:
        guild = self._guild(int(request.match_info["guild_id"]))
        return _json_response([self._role_payload(role) for role in guild.roles.values()])

    async def _get_guild_members(self, request: web.Request) -> web.Response:
        guild = self._guild(int(request.match_info["guild_id"]))
        limit = min(int(request.query.get("limit", 1)), 1000)
        after = int(request.query.get("after", 0))
        members = sorted(
            (m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id
        )
        return _json_response(
            [self._member_payload(guild, m, with_user=True) for m in members[:limit]]
        )

    async def _get_guild_member(self, request: web.Request) -> web.Response:
        guild = self._guild(int(request.match_info["guild_id"]))
        member = self._member(guild, int(request.match_info["user_id"]))
        return _json_response(self._member_payload(guild, member, with_user=True))

    def _request_channel(self, request: web.Request) -> EmuChannel:
        return self._channel(int(request.match_info["channel_id"]))

    def _request_message(self, request: web.Request) -> tuple[EmuChannel, EmuMessage]:
        channel = self._request_channel(request)
        return channel, self._visible_message(channel, int(request.match_info["message_id"]))

    async def _get_channel(self, request: web.Request) -> web.Response:
        return _json_response(self._channel_payload(self._request_channel(request)))

    async def _post_typing(self, request: web.Request) -> web.Response:
        self.typing_channel_ids.append(self._request_channel(request).id)
        self._notify()
        return _no_content()

    async def _post_thread_from_message(self, request: web.Request) -> web.Response:
        channel, message = self._request_message(request)
        body, _ = await self._read_body(request)
        thread = EmuChannel(
            id=message.id,
            guild_id=channel.guild_id,
            name=str(body["name"]),
            type=CHANNEL_PUBLIC_THREAD,
            parent_id=channel.id,
            owner_id=self.bot_user.id,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        return self._open_thread(thread)

    async def _post_thread(self, request: web.Request) -> web.Response:
        channel = self._request_channel(request)
        body, _ = await self._read_body(request)
        thread = EmuChannel(
            id=self._ids.next(),
            guild_id=channel.guild_id,
            name=str(body["name"]),
            type=int(body.get("type") or CHANNEL_PRIVATE_THREAD),
            parent_id=channel.id,
            owner_id=self.bot_user.id,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        return self._open_thread(thread)

    def _open_thread(self, thread: EmuChannel) -> web.Response:
        if thread.id in self.channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        self._add_channel(self._guild(thread.guild_id), thread)
        payload = self._channel_payload(thread)
        self._dispatch("THREAD_CREATE", payload | {"newly_created": True}, intent=INTENT_GUILDS)
        return _json_response(payload, 201)

    # ------------------------------------------------------------ REST: messages

    async def _get_messages(self, request: web.Request) -> web.Response:
        channel = self._request_channel(request)
        limit = max(1, min(int(request.query.get("limit", 50)), 100))
        visible = [
            self._messages[mid]
            for mid in self._channel_messages.get(channel.id, [])
            if not self._messages[mid].deleted and not self._messages[mid].ephemeral
        ]
        query = request.query
        if "after" in query:
            after = int(query["after"])
            selected = [m for m in visible if m.id > after][:limit]
        elif "around" in query:
            around = int(query["around"])
            older = [m for m in visible if m.id < around][-(limit // 2) :] if limit > 1 else []
            newer = [m for m in visible if m.id >= around][: limit - len(older)]
            selected = older + newer
        else:
            before = int(query.get("before", 0)) or None
            candidates = [m for m in visible if before is None or m.id < before]
            selected = candidates[-limit:]
        newest_first = sorted(selected, key=lambda m: m.id, reverse=True)
        return _json_response([self._message_payload(m) for m in newest_first])

    async def _post_message(self, request: web.Request) -> web.Response:
        channel = self._request_channel(request)
        body, uploads = await self._read_body(request)
        message = self._new_bot_message(channel, body, uploads)
        return _json_response(self._message_payload(message))

    async def _get_message(self, request: web.Request) -> web.Response:
        _, message = self._request_message(request)
        return _json_response(self._message_payload(message))

    async def _patch_message(self, request: web.Request) -> web.Response:
        _, message = self._request_message(request)
        body, uploads = await self._read_body(request)
        if message.author_id != self.bot_user.id and set(body) - {"flags"}:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._edit_message(message, body, uploads)
        return _json_response(self._message_payload(message))

    async def _delete_message_route(self, request: web.Request) -> web.Response:
        _, message = self._request_message(request)
        self._delete_message(message)
        return _no_content()

    # ------------------------------------------------------------ REST: reactions

    async def _put_own_reaction(self, request: web.Request) -> web.Response:
        _, message = self._request_message(request)
        self._add_reaction(message, self.bot_user.id, emoji_key(request.match_info["emoji"]))
        return _no_content()

    async def _delete_own_reaction(self, request: web.Request) -> web.Response:
        _, message = self._request_message(request)
        self._remove_reaction(message, self.bot_user.id, emoji_key(request.match_info["emoji"]))
        return _no_content()

    async def _delete_user_reaction(self, request: web.Request) -> web.Response:
        _, message = self._request_message(request)
        user_id = int(request.match_info["user_id"])
        self._remove_reaction(message, user_id, emoji_key(request.match_info["emoji"]))
        return _no_content()

    async def _get_reaction_users(self, request: web.Request) -> web.Response:
        _, message = self._request_message(request)
        users = message.reactions.get(emoji_key(request.match_info["emoji"]), [])
        limit = max(1, min(int(request.query.get("limit", 25)), 100))
        after = int(request.query.get("after", 0))
        selected = sorted(uid for uid in users if uid > after)[:limit]
        return _json_response([self._user_payload(self.users[uid]) for uid in selected])

    async def _delete_emoji_reactions(self, request: web.Request) -> web.Response:
        _, message = self._request_message(request)
        key = emoji_key(request.match_info["emoji"])
        if message.reactions.pop(key, None) is not None:
            self._notify()
            payload = self._reaction_event(message, 0, key)
            del payload["user_id"], payload["type"], payload["burst"]
            self._dispatch(
                "MESSAGE_REACTION_REMOVE_EMOJI", payload, intent=INTENT_GUILD_MESSAGE_REACTIONS
            )
        return _no_content()

    async def _delete_all_reactions(self, request: web.Request) -> web.Response:
        channel, message = self._request_message(request)
        if message.reactions:
            message.reactions.clear()
            self._notify()
            payload = {
                "channel_id": str(channel.id),
                "message_id": str(message.id),
                "guild_id": str(channel.guild_id),
            }
            self._dispatch(
                "MESSAGE_REACTION_REMOVE_ALL", payload, intent=INTENT_GUILD_MESSAGE_REACTIONS
            )
        return _no_content()

    # ------------------------------------------------------------ REST: interactions

    async def _post_interaction_callback(self, request: web.Request) -> web.Response:
        record = self._interaction_for_callback(request)
        body, uploads = await self._read_body(request)
        message = self._respond_to_interaction(record, body, uploads)
        if request.query.get("with_response") in _TRUE_QUERY_VALUES:
            return _json_response(self._callback_response(record, message))
        return _no_content()

    async def _post_followup(self, request: web.Request) -> web.Response:
        record = self._interaction_for_webhook(request)
        body, uploads = await self._read_body(request)
        original = (
            self._messages.get(record.original_message_id)
            if record.original_message_id is not None
            else None
        )
        if original is not None and original.flags & FLAG_LOADING and not original.deleted:
            # Discord: the first followup after a "thinking" defer becomes the original response.
            self._edit_message(original, body, uploads, record_edit=False)
            message = original
        else:
            channel = self._channel(record.channel_id)
            ephemeral = int(body.get("flags") or 0) & FLAG_EPHEMERAL
            message = self._new_bot_message(
                channel,
                body,
                uploads,
                flags=ephemeral,
                msg_type=MESSAGE_CHAT_INPUT_COMMAND
                if record.type == INTERACTION_APPLICATION_COMMAND
                else MESSAGE_DEFAULT,
                interaction=record,
            )
            record.followup_message_ids.append(message.id)
        self._notify()
        if request.query.get("wait") in _TRUE_QUERY_VALUES:
            return _json_response(self._message_payload(message))
        return _no_content()

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        record = self._interaction_for_webhook(request)
        message = self._interaction_message(record, request.match_info["message_ref"])
        return _json_response(self._message_payload(message))

    async def _patch_webhook_message(self, request: web.Request) -> web.Response:
        record = self._interaction_for_webhook(request)
        message = self._interaction_message(record, request.match_info["message_ref"])
        body, uploads = await self._read_body(request)
        self._edit_message(message, body, uploads, record_edit=not message.flags & FLAG_LOADING)
        return _json_response(self._message_payload(message))

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        record = self._interaction_for_webhook(request)
        message = self._interaction_message(record, request.match_info["message_ref"])
        self._delete_message(message)
        return _no_content()

    # ------------------------------------------------------------ CDN

    async def _get_cdn(self, request: web.Request) -> web.Response:
        attachment = self._attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None:
            return web.Response(status=404, text="Not Found")
        if attachment.filename in self.unreadable_attachments:
            return web.Response(status=503, text="Service Unavailable")
        # as the header, whole: a type with parameters ("text/plain; charset=utf-8") is one
        return web.Response(body=attachment.data, headers={"Content-Type": attachment.content_type})
