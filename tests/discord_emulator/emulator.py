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
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from tests.discord_emulator.gateway import GatewayMixin
from tests.discord_emulator.interactions import InteractionsMixin
from tests.discord_emulator.messages import MessagesMixin
from tests.discord_emulator.payloads import PayloadsMixin
from tests.discord_emulator.rest import RestMixin
from tests.discord_emulator.state import (
    ALL_PERMISSIONS,
    API_PREFIX,
    BOT_ROLE_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILDS,
    INTERACTION_APPLICATION_COMMAND,
    INTERACTION_MESSAGE_COMPONENT,
    MESSAGE_REPLY,
    OP_RECONNECT,
    PERM_ADMINISTRATOR,
    PREMIUM_UPLOAD_LIMITS,
    EmuAttachment,
    EmuChannel,
    EmuCommand,
    EmuGuild,
    EmuMember,
    EmuMessage,
    EmuRole,
    EmuUser,
    InteractionRecord,
    JSONDict,
    RequestRecord,
    _Connection,
    _not_found,
    _now_iso,
    _Session,
    _Snowflakes,
    emoji_key,
)


class DiscordEmulator(PayloadsMixin, MessagesMixin, GatewayMixin, InteractionsMixin, RestMixin):
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
