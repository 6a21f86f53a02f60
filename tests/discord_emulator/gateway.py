"""The gateway: the websocket discord.py connects to, heartbeats, identify/resume and dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from typing import Any

from aiohttp import WSMsgType, web

from tests.discord_emulator.state import (
    API_VERSION,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    OP_DISPATCH,
    OP_HEARTBEAT,
    OP_HEARTBEAT_ACK,
    OP_HELLO,
    OP_IDENTIFY,
    OP_INVALID_SESSION,
    OP_PRESENCE_UPDATE,
    OP_REQUEST_GUILD_MEMBERS,
    OP_RESUME,
    OP_VOICE_STATE_UPDATE,
    EmuGuild,
    EmuMessage,
    JSONDict,
    _Connection,
    _ids,
    _Session,
)


class GatewayMixin:
    """Part of DiscordEmulator (emulator.py), which holds the state these methods use."""

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
