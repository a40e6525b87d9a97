"""The generate/verify loop against a scripted OpenAI-compatible server: acceptance,
regeneration with feedback, rejection with reasons, replay from the cache, the budget."""

from __future__ import annotations

import json
from pathlib import Path

from misbehaving_server import Script, misbehaving_server

from motion_r1_core.config import CoTClientConfig
from motion_r1_core.cot.cache import AnswerCache, CachedClient
from motion_r1_core.cot.client import ChatClient
from motion_r1_core.cot.engine import EngineSettings, run_engine

CAPTIONS = [
    ("k", "a person kicks with the left leg"),  # swapped sides first, fixed after feedback
    ("w", "a man walks forward"),  # right at once
    ("g", "someone dances wildly"),  # never in the format
    ("j", "a person jumps up"),  # well-formed, but the judge dislikes it every time
]


def _llm(body: dict) -> tuple[str, str]:
    msgs = body["messages"]
    if "You check a decomposition" in msgs[0]["content"]:
        low = "jumps" in msgs[-1]["content"]
        score = 2 if low else 5
        return "ok", json.dumps(
            {
                "relevance": score,
                "logic": 5,
                "conciseness": 4,
                "feedback": "invented" if low else "",
            }
        )
    caption = msgs[2 * 2 + 1]["content"]  # system, two examples (2 messages each), caption
    retried = msgs[-1]["content"].startswith("That answer was rejected")
    if "kicks" in caption:
        side = "left" if retried else "right"
        return "ok", f"Plan: kick {side}.\n1. The {side} leg lifts.\n2. The {side} leg kicks out."
    if "walks" in caption:
        return "ok", "Plan: walk forward.\n1. Legs step forward.\n2. Arms swing."
    if "dances" in caption:
        return "ok", "Sure! The person dances."
    return "ok", "Plan: jump.\n1. Knees bend.\n2. Legs push off upward."


def _client(url: str, db: Path, **budget) -> CachedClient:
    cfg = CoTClientConfig(model="tiny", backoff=0.0, **budget)
    return CachedClient(ChatClient(cfg, base_url=url), AnswerCache(db))


def test_verify_regenerate_reject_and_replay(tmp_path: Path) -> None:
    script = Script(responder=_llm)
    db = tmp_path / "answers.sqlite"
    with misbehaving_server(script) as url:
        client = _client(url, db)
        seen = []
        results = run_engine(client, CAPTIONS, EngineSettings(), 3, on_result=seen.append)
        by_id = {r.id: r for r in results}
        assert [r.id for r in results] == ["k", "w", "g", "j"] and len(seen) == 4

        k = by_id["k"]
        assert k.status == "accepted" and len(k.attempts) == 2
        assert k.attempts[0].reasons == ["the caption says 'left' but the chain says 'right'"]
        assert k.chain.steps == ("The left leg lifts.", "The left leg kicks out.")
        assert k.attempts[1].verdict.relevance == 5

        assert by_id["w"].status == "accepted" and len(by_id["w"].attempts) == 1
        g = by_id["g"]
        assert g.status == "rejected" and len(g.attempts) == 3 and g.chain is None
        assert all(
            a.reasons[0].startswith("format: the first line is not a 'Plan:'") for a in g.attempts
        )
        j = by_id["j"]
        assert j.status == "rejected" and j.attempts[0].reasons == [
            "judge: relevance 2, logic 5, conciseness 4 (invented)"
        ]
        # k: 2 generations + 1 judge; w: 1 + 1; g: 3 + 0; j: 3 + 1 (the same chain three
        # times: the judge's verdict is reused, each generation is a fresh draw)
        assert len(script.requests) == 12
        log = k.log_record()
        assert log["attempts"][0]["accepted"] is False and log["attempts"][1]["accepted"] is True
        json.dumps([r.log_record() for r in results])  # the verification log is plain JSON

        # a rerun pays for nothing and decides the same
        client.cache.close()
        again = run_engine(_client(url, db), CAPTIONS, EngineSettings(), 2)
        assert len(script.requests) == 12
        assert [r.status for r in again] == [r.status for r in results]
        assert all(a.cached for r in again for a in r.attempts)


def test_a_spent_budget_stops_cleanly_and_a_rerun_resumes(tmp_path: Path) -> None:
    script = Script(responder=_llm)
    db = tmp_path / "answers.sqlite"
    captions = [(f"w{i}", f"a man walks forward {i} steps") for i in range(6)]
    with misbehaving_server(script) as url:
        first = run_engine(_client(url, db, max_requests=5), captions, EngineSettings(), 1)
        statuses = [r.status for r in first]
        assert statuses[:2] == ["accepted", "accepted"] and statuses[2] == "unanswered"
        assert set(statuses[3:]) == {"unanswered"} and len(script.requests) == 5
        assert "request budget of 5" in first[2].error
        second = run_engine(_client(url, db), captions, EngineSettings(), 1)
        assert [r.status for r in second] == ["accepted"] * 6
        # 12 calls in all: the 4 answers already paid for (2 captions + the third's
        # generation) were not asked again
        assert len(script.requests) == 5 + 12 - 5
