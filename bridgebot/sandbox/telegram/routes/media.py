"""Photos, documents, videos, animations, voice notes, audio, stickers, albums and getFile.

Uploads arrive as multipart parts (``photo=<file>``, or ``attach://name`` inside
``sendMediaGroup``'s ``media`` JSON); the Bot API's limits hold: an upload over 50 MB is
refused with 413, a photo over 10 MB with ``PHOTO_INVALID_DIMENSIONS``-like 400, ``getFile``
over 20 MB with "file is too big"; an album has 2-10 items that share a ``media_group_id``.
"""

from __future__ import annotations

import secrets

from bridgebot.sandbox.telegram.core import (
    DOWNLOAD_LIMIT,
    PHOTO_UPLOAD_LIMIT,
    UPLOAD_LIMIT,
    Handler,
    TelegramCore,
    _opt_int,
    _Upload,
)
from bridgebot.sandbox.telegram.state import (
    MAX_CAPTION_LENGTH,
    ApiError,
    BotAccount,
    JSONDict,
    StoredFile,
    bad_request,
)


class MediaRoutes(TelegramCore):
    """Bot API methods that send or fetch files.
    """

    def _media_methods(self) -> dict[str, Handler]:
        """The Bot API methods of this module, by their canonical name."""
        return {
            "sendPhoto": self._media_sender("photo"),
            "sendDocument": self._media_sender("document"),
            "sendVoice": self._media_sender("voice"),
            "sendSticker": self._media_sender("sticker"),
            "sendVideo": self._media_sender("video"),
            "sendAudio": self._media_sender("audio"),
            "sendAnimation": self._media_sender("animation"),
            "sendVideoNote": self._media_sender("video_note"),
            "sendMediaGroup": self._m_send_media_group,
            "getFile": self._m_get_file,
        }

    async def _m_get_file(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > DOWNLOAD_LIMIT:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    def _media_sender(self, kind: str) -> Handler:
        async def send(
            bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
        ) -> JSONDict:
            chat = self._api_chat(bot, params)
            self._require_right(bot, chat, kind)
            stored = self._input_file(kind, params, uploads)
            if kind == "photo":
                content: JSONDict = {"photo": self._photo_sizes(stored, 1280, 960)}
            elif kind in {"video", "animation", "audio", "video_note", "document"}:
                content = {kind: self._media_json(kind, stored)}
                if kind == "animation":  # Telegram shows a GIF also as a document
                    content["document"] = self._media_json("document", stored)
            else:
                extra: JSONDict = {}
                if kind == "voice":
                    extra["duration"] = _opt_int(params, "duration") or 1
                if kind == "sticker":
                    extra["emoji"] = str(params.get("emoji") or "🙂")
                content = {kind: self._media_json(kind, stored, **extra)}
            if kind not in {"sticker", "video_note"}:
                caption, entities = self._bot_text(
                    params,
                    "caption",
                    "caption_entities",
                    MAX_CAPTION_LENGTH,
                    "message caption is too long",
                    required=False,
                )
                if caption:
                    content["caption"] = caption
                if entities:
                    content["caption_entities"] = entities
            return self._bot_post(bot, chat, params, content)

        return send

    def _input_file(self, kind: str, params: JSONDict, uploads: dict[str, _Upload]) -> StoredFile:
        """The file a send* call refers to: an upload, ``attach://``, a file_id or a URL."""
        value = params.get(kind)
        upload = uploads.get(kind)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value[len("attach://") :])
        if upload is not None:
            if len(upload.data) > UPLOAD_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
            if kind == "photo" and len(upload.data) > PHOTO_UPLOAD_LIMIT:
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
            return self._store_file(kind, upload.data, upload.mime_type, upload.file_name)
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            # No internet here: pretend the download worked and keep the URL as content.
            name = value.rsplit("/", 1)[-1] or None
            return self._store_file(kind, value.encode(), None, name)
        if value in (None, ""):
            raise bad_request(f"there is no {kind} in the request")
        raise bad_request("wrong file identifier/HTTP URL specified")

    async def _m_send_media_group(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> list[JSONDict]:
        """An album: 2-10 ``InputMedia`` items, photos and videos together, or documents only,
        or audio only; the first item's caption is the album's. Each item is a message of its
        own carrying the same ``media_group_id``."""
        chat = self._api_chat(bot, params)
        media = params.get("media")
        if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
            raise bad_request("can't parse media JSON object")
        if not 2 <= len(media) <= 10:
            raise bad_request("wrong number of messages in the media group (2-10)")
        kinds = [str(m.get("type")) for m in media]
        families = {"photo": "visual", "video": "visual", "document": "document", "audio": "audio"}
        if any(k not in families for k in kinds) or len({families[k] for k in kinds}) != 1:
            raise bad_request("MEDIA_INVALID: these media can't be grouped together")
        stored = []
        for item, kind in zip(media, kinds, strict=True):
            self._require_right(bot, chat, kind)
            stored.append(self._input_file(kind, {kind: item.get("media")}, uploads))
        group_id = str(10**17 + secrets.randbelow(10**17))
        sent = []
        for item, kind, file in zip(media, kinds, stored, strict=True):
            if kind == "photo":
                content: JSONDict = {"photo": self._photo_sizes(file, 1280, 960)}
            else:
                content = {kind: self._media_json(kind, file)}
            content["media_group_id"] = group_id
            caption, entities = self._bot_text(
                {"caption": item.get("caption"), "parse_mode": item.get("parse_mode"),
                 "caption_entities": item.get("caption_entities")},
                "caption", "caption_entities", MAX_CAPTION_LENGTH,
                "message caption is too long", required=False,
            )
            if caption:
                content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
            sent.append(self._bot_post(bot, chat, params, content))
        return sent
