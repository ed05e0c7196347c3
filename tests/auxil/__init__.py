"""Helpers shared by every suite; :mod:`tests.auxil.world` builds the worlds tests run in."""
