"""The fake Discord's REST routes, one module per area; FakeDiscord mixes them in."""
