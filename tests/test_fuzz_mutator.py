"""The fuzzing harnesses' invariants, driven by hypothesis through fuzz/mutator.py.

The atheris harnesses (fuzz/harness.py) search for hours; this runs the same oracles
(fuzz/oracles.py) on mutants of the seed corpus for a few seconds in every test run,
and checks the mutator itself: it must rebuild what it splits, and it must corrupt
UTF-8 at every position without breaking the frame around it. The speedups harness
borrows frames_server's seeds, and needs the C accelerator to compare with.
"""

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz import formats, make_corpus, mutator, oracles, run_all  # noqa: E402
from wsproto_lite.connection import Connection, ConnectionType  # noqa: E402
from wsproto_lite.events import TextMessage, Utf8Violation  # noqa: E402
from wsproto_lite.frames import FrameParser, build_frame, chop  # noqa: E402

SEEDS = make_corpus.seeds()
KEY = b"\x37\xfa\x21\x3d"
QUICK = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
needs_accelerator = pytest.mark.skipif(
    oracles.speedups_missing() is not None,
    reason="speedups harness: %s" % oracles.speedups_missing(),
)


def seeds_of(harness):
    return SEEDS[formats.seed_folder(harness)]


def test_seed_corpus_matches_make_corpus():
    for harness, files in SEEDS.items():
        folder = ROOT / "fuzz" / "corpus" / harness
        on_disk = {p.name: p.read_bytes() for p in folder.iterdir()}
        assert on_disk == files, "run python fuzz/make_corpus.py"


def test_every_harness_has_seeds_a_mutator_and_a_place_in_run_all():
    assert set(run_all.HARNESSES) == set(oracles.TARGETS) == set(mutator.BODY_KINDS)
    for harness in oracles.TARGETS:
        assert seeds_of(harness), harness
    # A borrowed format is read the same way: the same mutator kind as its lender.
    for harness, lender in formats.SEEDS_FROM.items():
        assert mutator.BODY_KINDS[harness] == mutator.BODY_KINDS[lender]
        assert not (ROOT / "fuzz" / "corpus" / harness).exists()


@pytest.mark.parametrize("harness", sorted(SEEDS))
def test_every_seed_keeps_the_invariants(harness):
    for data in SEEDS[harness].values():
        oracles.TARGETS[harness](data)


@needs_accelerator
def test_every_frames_server_seed_is_the_same_on_both_paths():
    for data in seeds_of("speedups").values():
        oracles.run_speedups(data)


@needs_accelerator
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutants_are_the_same_on_both_paths(data):
    seeds = seeds_of("speedups")
    sample = seeds[data.draw(st.sampled_from(sorted(seeds)), label="seed")]
    rng = random.Random(data.draw(st.integers(0, 2**32), label="rng seed"))
    for _ in range(data.draw(st.integers(1, 4), label="generations")):
        sample = mutator.mutate("speedups", sample, rng, max_size=4096)
    oracles.run_speedups(sample)


def test_the_client_role_reads_each_frame_with_its_masking_flipped():
    wire = build_frame(1, b"Hello", mask_key=KEY) + build_frame(9, b"p") + b"\x82"
    want = build_frame(1, b"Hello") + build_frame(9, b"p", mask_key=oracles.MASK_KEY) + b"\x82"
    assert oracles.as_sent_by_server(wire) == want


@QUICK
@given(st.binary(max_size=300))
def test_split_then_join_gives_back_the_same_bytes(data):
    frames, tail = mutator.split_frames(data)
    assert mutator.join(frames, tail) == data


@QUICK
@given(st.integers(0, 2**32), st.integers(1, 6), st.booleans(), st.integers(1, 40))
def test_valid_streams_round_trip_in_any_chunking(seed, count, masked, size):
    ctx = mutator.Context(random.Random(seed), masked)
    ctx.key = lambda: KEY if masked else None  # type: ignore[method-assign]
    frames = mutator.random_frames(ctx, count)
    wire = mutator.join(frames)
    parser = FrameParser(expect_mask=masked, stream_payload=seed & 1 == 1)
    got = oracles.parse_stream(parser, chop(wire, size))
    assert got.error is None
    assert got.partial is None
    assert got.frames == [(f.opcode, f.payload, f.fin, f.rsv) for f in frames]


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutants_keep_the_invariants(data):
    harness = data.draw(st.sampled_from(sorted(SEEDS)), label="harness")
    name = data.draw(st.sampled_from(sorted(SEEDS[harness])), label="seed")
    rng = random.Random(data.draw(st.integers(0, 2**32), label="rng seed"))
    sample = SEEDS[harness][name]
    for _ in range(data.draw(st.integers(1, 4), label="generations")):
        sample = mutator.mutate(harness, sample, rng, max_size=4096)
    oracles.TARGETS[harness](sample)


@pytest.mark.parametrize("mutation", mutator.MUTATIONS, ids=lambda m: m.__name__)
def test_each_mutation_builds_frames(mutation):
    for seed in range(30):
        ctx = mutator.Context(random.Random(seed), seed & 1 == 0)
        frames = mutator.random_frames(ctx, 3)
        mutation(frames, ctx)
        wire = mutator.join(frames)
        assert mutator.join(*mutator.split_frames(wire)) == wire


TEXT = "naïve ☃ 😀 é".encode()


@pytest.mark.parametrize("bad", mutator.BAD_UTF8, ids=lambda b: b.hex())
def test_utf8_corrupted_at_every_position_fails_1007_or_matches_cpython(bad):
    for pos in range(len(TEXT) + 1):
        for replace in (True, False):
            payload = mutator.corrupt_utf8(TEXT, pos, bad, replace)
            try:
                expected = payload.decode("utf-8")
            except UnicodeError:
                expected = None
            for cut in (0, pos, len(payload)):
                wire = build_frame(1, payload[:cut], fin=False, mask_key=KEY)
                wire += build_frame(0, payload[cut:], mask_key=KEY)
                conn = Connection(ConnectionType.SERVER, whole_messages=True)
                conn.receive_data(wire)
                events = list(conn.events())
                if expected is None:
                    assert len(events) == 1
                    assert type(events[0]) is Utf8Violation
                    assert events[0].code == 1007
                else:
                    assert events == [TextMessage(expected)]


def test_script_records_round_trip():
    records = [
        formats.feed(b"abc"),
        formats.feed_split(b"defg", 2),
        formats.events(),
        formats.events(3),
        formats.send("close", b"\x03\xe8", 0x03),
        formats.data_to_send(),
        formats.eof(),
        formats.reply(),
    ]
    assert formats.parse_records(formats.encode_records(records)) == records


def test_libfuzzer_mutator_respects_max_size():
    for harness in oracles.TARGETS:
        custom = mutator.libfuzzer_mutator(harness, lambda data, n: data[:n])
        for seed, data in enumerate(seeds_of(harness).values()):
            assert len(custom(data, 64, seed)) <= 64
