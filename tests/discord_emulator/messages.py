"""Changing the state (channels, attachments, messages, reactions) and reading message bodies."""

from __future__ import annotations

import asyncio
import copy
import json
import mimetypes
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from tests.discord_emulator.state import (
    _FILE_FIELD,
    _ROLE_MENTION,
    _USER_MENTION,
    EMBED_FIELD_LIMITS,
    EMBED_TEXT_LIMITS,
    FLAG_LOADING,
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILD_MESSAGES,
    MAX_ATTACHMENTS,
    MAX_CONTENT_LENGTH,
    MAX_EMBED_FIELDS,
    MAX_EMBED_TOTAL,
    MAX_EMBEDS,
    MAX_REACTION_EMOJIS,
    MESSAGE_DEFAULT,
    MESSAGE_REPLY,
    SETTABLE_MESSAGE_FLAGS,
    ApiError,
    EmuAttachment,
    EmuChannel,
    EmuEdit,
    EmuGuild,
    EmuMessage,
    InteractionRecord,
    JSONDict,
    _emoji_payload,
    _field_error,
    _ids,
    _invalid_form,
    _now_iso,
    _Upload,
)


class MessagesMixin:
    """Part of DiscordEmulator (emulator.py), which holds the state these methods use."""

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
