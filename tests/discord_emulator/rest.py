"""The REST API: HTTP plumbing and the routes for users, commands, guilds, channels,
messages, reactions, and the CDN."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.discord_emulator.state import (
    _COMMAND_NAME,
    _TRUE_QUERY_VALUES,
    API_PREFIX,
    CHANNEL_PRIVATE_THREAD,
    CHANNEL_PUBLIC_THREAD,
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILDS,
    ApiError,
    EmuChannel,
    EmuCommand,
    EmuMessage,
    EmuUser,
    JSONDict,
    RequestRecord,
    _field_error,
    _invalid_form,
    _json_response,
    _no_content,
    emoji_key,
)


class RestMixin:
    """Part of DiscordEmulator (emulator.py), which holds the state these methods use."""

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

    # ------------------------------------------------------------ CDN

    async def _get_cdn(self, request: web.Request) -> web.Response:
        attachment = self._attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None:
            return web.Response(status=404, text="Not Found")
        if attachment.filename in self.unreadable_attachments:
            return web.Response(status=503, text="Service Unavailable")
        # as the header, whole: a type with parameters ("text/plain; charset=utf-8") is one
        return web.Response(body=attachment.data, headers={"Content-Type": attachment.content_type})
