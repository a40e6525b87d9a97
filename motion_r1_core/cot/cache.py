"""Every paid answer, kept in SQLite, so that no rerun or crash pays for it twice.

    key = sha256(model, prompt version, messages, sampling parameters, sample index)

A request's messages hold the caption, the versioned prompt and, for a regeneration, the judge's
feedback, so each distinct question has its own key. The sample index tells apart repeated
draws of the same question (attempt 2 and 3 of a regeneration may send identical messages and
must still get fresh samples), and a rerun replays each draw in its place. An answer is committed the moment it
arrives (WAL journal: a SIGKILL loses at most the request in flight), and `CachedClient` lets
only one thread ask a given key at a time, so parallel workers never pay twice either.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from motion_r1_core.cot.client import ChatClient, Completion, Sampling

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    created REAL NOT NULL,
    text TEXT NOT NULL,
    reasoning TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    finish_reason TEXT,
    served_by TEXT NOT NULL,
    request TEXT NOT NULL
)
"""


def answer_key(
    model: str,
    prompt_version: str,
    messages: Sequence[dict[str, str]],
    sampling: Sampling,
    sample: int = 0,
) -> str:
    """The cache key of a request (hex sha256); `sample` numbers repeated draws from 0."""
    doc = {
        "model": model,
        "prompt_version": prompt_version,
        "messages": list(messages),
        "sampling": sampling.as_dict(),
        "sample": sample,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class AnswerCache:
    """A SQLite table of answers by key; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{self.path}: not a usable answer cache ({e})") from e

    def get(self, key: str) -> Completion | None:
        """The stored answer of `key`, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT text, reasoning, prompt_tokens, completion_tokens, finish_reason, "
                "served_by FROM answers WHERE key = ?",
                (key,),
            ).fetchone()
        return Completion(*row) if row else None

    def put(
        self,
        key: str,
        answer: Completion,
        model: str,
        prompt_version: str,
        request: dict,
    ) -> None:
        """Store (and commit) an answer; an existing key is left as it is."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    model,
                    prompt_version,
                    time.time(),
                    answer.text,
                    answer.reasoning,
                    answer.prompt_tokens,
                    answer.completion_tokens,
                    answer.finish_reason,
                    answer.model,
                    json.dumps(request, sort_keys=True),
                ),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


class CachedClient:
    """`complete` answered from the cache when it can, from the endpoint (then stored) otherwise.

    Attributes:
        hits, misses: answers taken from the cache / paid for in this process.
    """

    def __init__(self, client: ChatClient, cache: AnswerCache) -> None:
        self.client, self.cache = client, cache
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def complete(
        self,
        messages: Sequence[dict[str, str]],
        sampling: Sampling,
        prompt_version: str,
        sample: int = 0,
    ) -> tuple[Completion, bool]:
        """(answer, from_cache) of a request; a cached answer is never asked again.

        `sample` > 0 asks for another draw of a question already answered (see `answer_key`).
        """
        model = self.client.cfg.model
        key = answer_key(model, prompt_version, messages, sampling, sample)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # a second thread asking the same question waits for the first answer
            if (hit := self.cache.get(key)) is not None:
                with self._lock:
                    self.hits += 1
                return hit, True
            answer = self.client.complete(messages, sampling)
            request = {
                "messages": list(messages),
                "sampling": sampling.as_dict(),
                "sample": sample,
            }
            self.cache.put(key, answer, model, prompt_version, request)
            with self._lock:
                self.misses += 1
            return answer, False
