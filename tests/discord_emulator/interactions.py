"""Interactions: slash commands and button clicks, their responses and follow-ups."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.discord_emulator.state import (
    _TRUE_QUERY_VALUES,
    CALLBACK_AUTOCOMPLETE_RESULT,
    CALLBACK_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_CHANNEL_MESSAGE,
    CALLBACK_DEFERRED_UPDATE_MESSAGE,
    CALLBACK_MODAL,
    CALLBACK_PONG,
    CALLBACK_UPDATE_MESSAGE,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    INTERACTION_APPLICATION_COMMAND,
    INTERACTION_MESSAGE_COMPONENT,
    MESSAGE_CHAT_INPUT_COMMAND,
    MESSAGE_DEFAULT,
    OPTION_ATTACHMENT,
    OPTION_BOOLEAN,
    OPTION_CHANNEL,
    OPTION_INTEGER,
    OPTION_MENTIONABLE,
    OPTION_NUMBER,
    OPTION_ROLE,
    OPTION_STRING,
    OPTION_SUB_COMMAND,
    OPTION_SUB_COMMAND_GROUP,
    OPTION_USER,
    ApiError,
    EmuChannel,
    EmuCommand,
    EmuGuild,
    EmuMessage,
    InteractionRecord,
    JSONDict,
    _field_error,
    _invalid_form,
    _json_response,
    _no_content,
    _not_found,
    _Upload,
)


class InteractionsMixin:
    """Part of DiscordEmulator (emulator.py), which holds the state these methods use."""

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
