"""getMe, getUpdates and webhooks: how updates reach the bot.
"""

from __future__ import annotations

import asyncio
import copy
import json

import aiohttp

from bridgebot.sandbox.telegram.core import Handler, TelegramCore, _opt_int, _Result, _Upload
from bridgebot.sandbox.telegram.state import (
    ApiError,
    BotAccount,
    JSONDict,
    WebhookConfig,
    WebhookDelivery,
    bad_request,
)


class UpdateRoutes(TelegramCore):
    """Bot API methods that hand updates to the bot (long polling or webhook).
    """

    def _updates_methods(self) -> dict[str, Handler]:
        """The Bot API methods of this module, by their canonical name."""
        return {
            "getMe": self._m_get_me,
            "getUpdates": self._m_get_updates,
            "setWebhook": self._m_set_webhook,
            "deleteWebhook": self._m_delete_webhook,
            "getWebhookInfo": self._m_get_webhook_info,
        }

    async def _m_get_updates(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> list[JSONDict]:
        if bot.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _opt_int(params, "offset")
        limit = min(max(_opt_int(params, "limit") or 100, 1), 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            bot.allowed_updates = [str(kind) for kind in allowed] or None
        if offset is not None:
            if offset < 0:
                bot.updates = bot.updates[offset:] if -offset < len(bot.updates) else bot.updates
            else:
                bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
        # A newer getUpdates ends an older one still waiting, as on Telegram.
        bot.poll_generation += 1
        generation = bot.poll_generation
        bot.notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            if generation != bot.poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            if bot.updates or self._closing:
                return copy.deepcopy(bot.updates[:limit])
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = bot.wakeup
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass

    async def _m_set_webhook(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> _Result:
        url = str(params.get("url") or "")
        if not url:
            return await self._m_delete_webhook(bot, params, uploads)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: Webhook URL must start with http:// or https://")
        secret = params.get("secret_token")
        if secret is not None:
            secret = str(secret)
            if not 1 <= len(secret) <= 256 or not all(
                ch.isascii() and (ch.isalnum() or ch in "_-") for ch in secret
            ):
                raise bad_request("secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if params.get("drop_pending_updates") is True:
            bot.updates.clear()
        unchanged = (
            bot.webhook is not None
            and bot.webhook.url == url
            and bot.webhook.secret_token == secret
        )
        bot.webhook = WebhookConfig(
            url=url,
            secret_token=secret,
            max_connections=int(params.get("max_connections") or 40),
            ip_address=params.get("ip_address"),
            allowed_updates=[str(k) for k in allowed] if isinstance(allowed, list) else None,
        )
        bot.poll_generation += 1
        bot.notify()
        await self._cancel_webhook_task(bot)
        bot.webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop(bot))
        return _Result(True, "Webhook is already set" if unchanged else "Webhook was set")

    async def _m_delete_webhook(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> _Result:
        if params.get("drop_pending_updates") is True:
            bot.updates.clear()
        was_set = bot.webhook is not None
        bot.webhook = None
        await self._cancel_webhook_task(bot)
        return _Result(True, "Webhook was deleted" if was_set else "Webhook is already deleted")

    async def _m_get_webhook_info(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        return self._webhook_info(bot)

    def _webhook_info(self, bot: BotAccount) -> JSONDict:
        hook = bot.webhook
        info: JSONDict = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            if hook.ip_address:
                info["ip_address"] = hook.ip_address
            if hook.allowed_updates is not None:
                info["allowed_updates"] = list(hook.allowed_updates)
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    async def _cancel_webhook_task(self, bot: BotAccount) -> None:
        task = bot.webhook_task
        bot.webhook_task = None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _webhook_loop(self, bot: BotAccount) -> None:
        """Delivers queued updates one by one, retrying the head until it gets a 2xx."""
        while not self._closing and bot.webhook is not None:
            hook = bot.webhook
            if not bot.updates:
                await bot.wakeup.wait()
                continue
            update = bot.updates[0]
            headers = {"Content-Type": "application/json"}
            if hook.secret_token:
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
            status, error = 0, None
            assert self._session is not None
            try:
                async with self._session.post(
                    hook.url,
                    data=json.dumps(update, ensure_ascii=False).encode(),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as response:
                    status = response.status
                    await response.read()
                    if not 200 <= status < 300:
                        error = f"Wrong response from the webhook: {status} {response.reason}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"Connection failed: {exc.__class__.__name__}"
            self.webhook_deliveries.append(
                WebhookDelivery(
                    update_id=update["update_id"],
                    url=hook.url,
                    status=status,
                    secret_token=hook.secret_token,
                    at=self.clock(),
                    error=error,
                )
            )
            self.stats.webhook_deliveries += 1
            if error is None:
                if bot.updates and bot.updates[0] is update:
                    bot.updates.pop(0)
            else:
                self.stats.webhook_failures += 1
                hook.last_error_date = int(self.wall_clock())
                hook.last_error_message = error
                await asyncio.sleep(self.webhook_retry_delay)

    async def _m_get_me(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        return {
            **bot.user,
            "can_join_groups": True,
            "can_read_all_group_messages": bot.can_read_all_group_messages,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
