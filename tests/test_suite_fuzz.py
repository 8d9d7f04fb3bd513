"""Hostile suite files: whatever the bytes, reading and validating a suite
either gives a suite or a SuiteError naming the file, never another
exception: one printable line, or for several errors a header line and one
printable line for each. Hand-written cases first, then hypothesis."""

from __future__ import annotations

import copy
import json
import math
import tomllib

import pytest
from conftest import suite_toml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnbench.api.contracts import KINDS
from snnbench.api.errors import SuiteError, SuiteErrors
from snnbench.api.records import Suite
from snnbench.cli import main
from snnbench.definition.suite import load_suite

VALID = suite_toml("fuzz", encoder=("rate", "latency"))


def one_line_error(capsys, path) -> str:
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    (line,) = err.splitlines()
    assert line.startswith(f"snnbench: error: {path}")
    return line


def test_a_suite_that_is_not_utf8_names_the_byte_and_line(tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes(VALID.replace('"fuzz"', '"caf\u00e9"').encode("latin-1"))
    line = one_line_error(capsys, path)
    assert f"{path}:3: not UTF-8 text" in line and "byte 0xe9 at offset" in line


def test_control_characters_in_keys_are_escaped_not_sent_to_the_terminal(tmp_path, capsys):
    path = tmp_path / "ansi.toml"
    path.write_text(VALID + '\n[training]\n"\\u001b[31mred\\u0007" = 1\n')
    line = one_line_error(capsys, path)
    assert "\x1b" not in line and "\x07" not in line
    assert "training.\\x1b[31mred\\x07 = 1: unknown key" in line


def test_a_deeply_nested_value_is_cut_in_the_message(tmp_path, capsys):
    nested = "1"
    for _ in range(300):
        nested = "{a = " + nested + "}"
    path = tmp_path / "nested.toml"
    path.write_text(VALID.replace('seeds = [0]', f"seeds = {nested}"))
    line = one_line_error(capsys, path)
    assert "suite.seeds = {'a': {'a': {'a': {...}}}}: must be a non-empty list of integers" in line
    assert len(line) < 400


def test_a_nesting_too_deep_for_the_toml_reader_is_an_error(tmp_path, capsys):
    path = tmp_path / "deeper.toml"
    path.write_text(VALID.replace('seeds = [0]', "seeds = " + "[" * 5000 + "]" * 5000))
    assert "nested too deeply" in one_line_error(capsys, path)


@pytest.mark.parametrize("description", ["42", "[\"a\"]", "{text = \"x\"}"])
def test_suite_description_must_be_a_string(tmp_path, capsys, description):
    path = tmp_path / "description.toml"
    path.write_text(VALID.replace('seeds = [0]', f"seeds = [0]\ndescription = {description}"))
    line = one_line_error(capsys, path)
    assert "suite.description = " in line and line.endswith("must be a string")


# ------------------------------------------------------------------ hypothesis

#: names a suite may use, near misses, and hostile text, so generated files
#: reach deep into validation instead of failing at the first key
NAMES = st.sampled_from([
    "suite", "matrix", "params", "variants", "training", "include", "exclude", "tune", "name", "seeds",
    "description", "of", *KINDS, "digits", "mnist", "rate", "latency", "snntorch-lif", "mlp", "csnn", "bptt",
    "timesteps", "gain", "epochs", "batch_size", "lr", "hidden", "encodr", "\x1b[0m", "", "a.b", "ü",
]) | st.text(max_size=12)
SCALARS = (st.integers(min_value=-2**63, max_value=2**63 - 1) | st.floats() | st.booleans()
           | st.text(max_size=20) | NAMES)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=4),
                      max_leaves=20)
DOCUMENTS = st.dictionaries(NAMES, st.dictionaries(NAMES, VALUES, max_size=6) | VALUES, max_size=8)


def toml_value(value) -> str:
    """``value`` written as TOML (strings and keys as JSON-escaped basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(document: dict) -> str:
    """A top-level table per dict value, so ``[matrix]`` and ``[params]`` look as in real files."""
    plain = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in document.items() if not isinstance(v, dict)]
    tables = [f"[{json.dumps(k)}]\n" + "\n".join(f"{json.dumps(kk)} = {toml_value(vv)}" for kk, vv in v.items())
              for k, v in document.items() if isinstance(v, dict)]
    return "\n".join(plain) + "\n\n" + "\n\n".join(tables) + "\n"


def assert_suite_or_clean_error(path, registries) -> None:
    try:
        suite = load_suite(path, registries)
    except SuiteError as error:
        message = str(error)
        assert message.startswith(str(path)), message
        lines = message.split("\n")
        assert all(line.isprintable() and len(line) < 2000 for line in lines), message
        listed = error.errors if isinstance(error, SuiteErrors) else []
        assert len(lines) == 1 + len(listed), message
        assert all(line == f"  {each}" and each.file == str(path) for line, each in zip(lines[1:], listed)), message
    else:
        assert isinstance(suite, Suite)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(document=DOCUMENTS)
def test_any_toml_document_validates_or_is_one_clean_error(tmp_path_factory, plugins, document):
    path = tmp_path_factory.getbasetemp() / "fuzz-document.toml"
    path.write_text(toml_document(document), encoding="utf-8")
    assert_suite_or_clean_error(path, plugins.registries)


def _paths(table: dict, prefix: tuple = ()) -> list[tuple]:
    paths = []
    for key, value in table.items():
        paths.append((*prefix, key))
        if isinstance(value, dict):
            paths.extend(_paths(value, (*prefix, key)))
    return paths


VALID_DATA = tomllib.loads(VALID + '\n[params.encoder.rate]\ntimesteps = 4\n[training]\nepochs = 1\n')
VALID_PATHS = _paths(VALID_DATA)


@FUZZ
@given(path_in_file=st.sampled_from(VALID_PATHS), value=VALUES, new_key=NAMES, add=st.booleans())
def test_a_valid_suite_with_one_value_changed_or_added_validates_or_is_one_clean_error(
        tmp_path_factory, plugins, path_in_file, value, new_key, add):
    """Reaches every table's validation: one entry of a valid file changed,
    or one key added beside it."""
    document = copy.deepcopy(VALID_DATA)
    *parents, key = path_in_file
    table = document
    for parent in parents:
        table = table[parent]
    table[new_key if add else key] = value
    path = tmp_path_factory.getbasetemp() / "fuzz-one-change.toml"
    path.write_text(toml_document(document), encoding="utf-8")
    assert_suite_or_clean_error(path, plugins.registries)


@FUZZ
@given(at=st.integers(min_value=0, max_value=len(VALID)), junk=st.binary(max_size=16),
       cut=st.integers(min_value=0, max_value=8))
def test_a_valid_suite_with_bytes_spliced_in_validates_or_is_one_clean_error(tmp_path_factory, plugins, at,
                                                                              junk, cut):
    data = VALID.encode()
    path = tmp_path_factory.getbasetemp() / "fuzz-bytes.toml"
    path.write_bytes(data[:at] + junk + data[at + cut:])
    assert_suite_or_clean_error(path, plugins.registries)
