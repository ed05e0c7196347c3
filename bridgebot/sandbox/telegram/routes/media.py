"""Photos, documents, voice notes, stickers and getFile.
"""

from __future__ import annotations

from bridgebot.sandbox.telegram.core import Handler, TelegramCore, _opt_int, _Upload
from bridgebot.sandbox.telegram.state import (
    MAX_CAPTION_LENGTH,
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
            "getFile": self._m_get_file,
        }

    async def _m_get_file(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise bad_request("invalid file_id")
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
            else:
                extra: JSONDict = {}
                if kind == "voice":
                    extra["duration"] = _opt_int(params, "duration") or 1
                if kind == "sticker":
                    extra["emoji"] = str(params.get("emoji") or "🙂")
                content = {kind: self._media_json(kind, stored, **extra)}
            if kind != "sticker":
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
