"""Decomposed chain-of-thought data engine: client, prompts, self-verification, cache."""
