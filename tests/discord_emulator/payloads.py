"""How the emulator's state looks in Discord's JSON (users, members, channels, guilds, messages)."""

from __future__ import annotations

import copy

from tests.discord_emulator.state import (
    INTENT_GUILD_MEMBERS,
    INTERACTION_MESSAGE_COMPONENT,
    MESSAGE_REPLY,
    EmuAttachment,
    EmuChannel,
    EmuCommand,
    EmuGuild,
    EmuMember,
    EmuMessage,
    EmuRole,
    EmuUser,
    JSONDict,
    _emoji_payload,
    _reference_snapshot,
)


class PayloadsMixin:
    """Part of DiscordEmulator (emulator.py), which holds the state these methods use."""

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
