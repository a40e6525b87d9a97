"""Mirrored twins of motions and captions (the M<id> augmentation)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from motion_r1_core.data.humanml3d import Caption, MotionRecord, load_split
from motion_r1_core.data.mirror import mirror_caption, mirrored_features, mirrored_records
from motion_r1_core.skeleton import skeleton_for_dim


def test_mirrored_records_swap_motion_and_caption(smoke_project) -> None:
    root, cfg = smoke_project
    folder = root / "data/raw/procedural"
    records = load_split(folder, "train", cfg.data.min_frames)[:4]
    skel = skeleton_for_dim(records[0].features.shape[1])
    first = records[0]
    cap = Caption("a man kicks with the LEFT leg", ("a/DET", "man/NOUN", "left/ADJ"), 1.0, 3.0)
    clip = MotionRecord(f"{first.motion_id}#1#3", first.motion_id, first.features[20:60], (cap,))
    twins = mirrored_records(folder, [*records, clip], skel, shipped={f"M{records[1].motion_id}"})
    by_name = {t.name: t for t in twins}
    # the shipped one is skipped; the others get an M twin
    assert set(by_name) == {f"M{r.name}" for r in (records[0], records[2], records[3], clip)}
    whole = mirrored_features(folder, first.motion_id, skel)
    twin = by_name[f"M{first.motion_id}"]
    assert twin.motion_id == f"M{first.motion_id}" and len(twin.features) == first.n_frames - 1
    np.testing.assert_array_equal(twin.features, whole[: first.n_frames])
    assert [c.text for c in twin.captions] == [mirror_caption(c).text for c in first.captions]
    sub = by_name[f"M{clip.name}"]
    np.testing.assert_array_equal(sub.features, whole[20:60])  # 1 s .. 3 s at 20 fps
    assert sub.captions[0].text == "a man kicks with the RIGHT leg"
    assert sub.captions[0].tokens == ("a/DET", "man/NOUN", "right/ADJ")
    assert sub.captions[0].start == 1.0 and sub.captions[0].end == 3.0
    # a twin is never mirrored again
    assert mirrored_records(folder, [replace(twin)], skel) == []
