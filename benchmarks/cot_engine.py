"""CoT engine throughput: captions/s of the engine against a plain sequential loop, and replay.

    python benchmarks/cot_engine.py                          # simulated endpoint, 0.5 s per answer
    python benchmarks/cot_engine.py --latency 2 --captions 64 --concurrency 16
    python benchmarks/cot_engine.py --local --captions 12    # the real SmolLM2 server

The captions are the first `--captions` captions (all splits, in the order of all.txt) of a
procedural corpus of captions // 3 + 1 motions, synthesised into a fresh temporary folder
(`cot-bench-*` in the system temp folder; it holds the corpus, both answer caches and the
server log, and is left in place). The engine's settings are the `cot` section of the cpu
profile (attempts, judge, sampling, limits), with retry backoff set to 0. Three runs over the
same captions follow, in this order, each timed once:

* **reference**: `decompose_caption` (the same generate -> check -> judge loop) on one caption
  after the other, through its own empty SQLite answer cache: every distinct request is sent
  once, as in the pipeline's first run (only a request repeated within the run, such as a
  caption that occurs twice, is answered from it).
* **pipeline**: `run_engine` as `motion-r1 stage cot_triplets` runs it: `--concurrency` worker
  threads, answers stored in a second empty SQLite cache as they arrive.
* **replay**: `run_engine` again on the pipeline's filled cache (a rerun after a crash); every
  answer comes from the cache, so it sends no request.

The table gives seconds, captions/s, requests sent (cache misses) and the ratio reference
seconds / run seconds. The simulated endpoint is a threaded OpenAI-compatible server on
127.0.0.1 that answers every request after `--latency` seconds, as a hosted reasoner does
(DeepSeek-R1 takes seconds per answer), so the ratio shows what concurrency buys when the
server is not the bottleneck. It returns one fixed chain ("walk forward, then wave", with the
right hand) to every decomposition request and a fixed all-5 verdict to every judge request
(recognised by its system prompt), so a caption whose sides or directions differ fails the
deterministic checks on every attempt: a caption needs 2 answers (accepted at once) or
`attempts` answers (rejected), alike in the reference and the pipeline run. With `--local`,
the endpoint is SmolLM2 behind llama-cpp-python's server (started for the runs), which decodes
one request at a time: expect a ratio near 1. Results are printed and written as JSON (default
artifacts/benchmarks/cot_engine.json): per run seconds, requests, captions/s and ratio.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from motion_r1_core.config import load_config
from motion_r1_core.cot.cache import AnswerCache, CachedClient
from motion_r1_core.cot.client import ChatClient
from motion_r1_core.cot.engine import decompose_caption, run_engine
from motion_r1_core.cot.server import local_chat_server
from motion_r1_core.data.humanml3d import read_captions, read_split
from motion_r1_core.data.procedural import synthesize_corpus
from motion_r1_core.stages.cot_triplets import engine_settings

ANSWER = "Plan: walk forward, then wave.\n1. Legs step forward.\n2. The right hand waves."
VERDICT = "relevance: 5\nlogic: 5\nconciseness: 5\nfeedback: none"


@contextmanager
def simulated_endpoint(latency: float) -> Iterator[str]:
    """A threaded OpenAI-compatible server answering every request after `latency` seconds."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            time.sleep(latency)
            judge = body["messages"][0]["content"].startswith("You check")
            doc = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": VERDICT if judge else ANSWER},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130},
            }
            out = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _captions(n: int, work: Path) -> list[tuple[str, str]]:
    """`n` captions of a small procedural corpus written under `work`."""
    folder = work / "corpus"
    synthesize_corpus(folder, motions=n // 3 + 1, seed=0, progress=False)
    caps = []
    for motion_id in read_split(folder, "all"):
        for line, cap in enumerate(read_captions(folder / "texts" / f"{motion_id}.txt")):
            caps.append((f"{motion_id}:{line}", cap.text))
    return caps[:n]


def main(
    captions: int = typer.Option(32, help="Captions per run."),
    latency: float = typer.Option(0.5, help="Seconds per answer of the simulated endpoint."),
    concurrency: int = typer.Option(8, help="Workers of the pipeline run."),
    local: bool = typer.Option(False, help="Use the local SmolLM2 server instead."),
    out: Path = typer.Option(Path("artifacts/benchmarks/cot_engine.json"), help="JSON result."),
) -> None:
    """Time the pipeline, the sequential reference and the cached replay; print the ratios."""
    cfg = load_config("cpu", [f"cot.client.concurrency={concurrency}", "cot.client.backoff=0"])
    settings = engine_settings(cfg.cot)
    work = Path(tempfile.mkdtemp(prefix="cot-bench-"))
    items = _captions(captions, work)
    endpoint = (
        local_chat_server(cfg.cot.server, cfg.cot.client.model, work / "server.log")
        if local
        else simulated_endpoint(latency)
    )
    rows: dict[str, dict[str, float]] = {}
    with endpoint as url:
        chat = ChatClient(cfg.cot.client, base_url=url)
        plain = CachedClient(chat, AnswerCache(work / "reference.sqlite"))
        t0 = time.perf_counter()
        for cid, cap in items:  # reference: one caption after the other
            decompose_caption(plain, cid, cap, settings)
        rows["reference"] = {"seconds": time.perf_counter() - t0, "requests": plain.misses}
        cache = AnswerCache(work / "pipeline.sqlite")
        for name in ("pipeline", "replay"):
            client = CachedClient(ChatClient(cfg.cot.client, base_url=url), cache)
            t0 = time.perf_counter()
            run_engine(client, items, settings, concurrency)
            rows[name] = {"seconds": time.perf_counter() - t0, "requests": client.misses}
    ref = rows["reference"]["seconds"]
    table = Table(
        title=f"CoT engine, {captions} captions, "
        + ("local SmolLM2" if local else f"simulated endpoint {latency:g} s/answer")
    )
    for col in ("run", "seconds", "captions/s", "requests", "ratio vs reference"):
        table.add_column(col, justify="right")
    for name, r in rows.items():
        r["captions_per_s"] = captions / r["seconds"]
        r["ratio"] = ref / r["seconds"]
        table.add_row(
            name,
            f"{r['seconds']:.2f}",
            f"{r['captions_per_s']:.2f}",
            f"{r['requests']:.0f}",
            f"{r['ratio']:.1f}x",
        )
    Console().print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "captions": captions,
                "latency": latency,
                "local": local,
                "concurrency": concurrency,
                "runs": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    typer.run(main)
