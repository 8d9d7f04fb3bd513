"""Suite files: the shipped suites validate; every error names the file, the
line, the key and the bad value; expansion, include/exclude and skipping."""

from __future__ import annotations

import textwrap

import pytest
from conftest import REPO, suite_toml

from snnbench.api.errors import SuiteError
from snnbench.cli import main
from snnbench.definition.suite import load_suite
from snnbench.results.store import ResultStore

BASE = suite_toml(seeds=(0, 1), encoder=("rate", "latency"))


def write(tmp_path, text: str, name: str = "suite.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path, plugins, text: str) -> SuiteError:
    path = write(tmp_path, text)
    with pytest.raises(SuiteError) as caught:
        load_suite(path, plugins.registries)
    assert str(path) in str(caught.value)
    return caught.value


@pytest.mark.parametrize("name", ["smoke", "encoders"])
def test_shipped_suites_validate(plugins, name):
    suite = load_suite(REPO / "suites" / f"{name}.toml", plugins.registries)
    assert suite.name == name
    assert suite.cells


def test_expansion_is_the_cross_product_times_seeds(tmp_path, plugins):
    suite = load_suite(write(tmp_path, BASE), plugins.registries)
    assert [(c.encoder.name, c.seed) for c in suite.cells] == [
        ("rate", 0), ("rate", 1), ("latency", 0), ("latency", 1)]
    assert suite.cells[0].config_hash == suite.cells[1].config_hash  # seeds share a config
    assert suite.cells[0].config_hash != suite.cells[2].config_hash


def test_params_reach_the_cells_and_change_the_hash(tmp_path, plugins):
    plain = load_suite(write(tmp_path, BASE), plugins.registries).cells[0]
    tuned = load_suite(write(tmp_path, BASE + "[params.encoder.rate]\ntimesteps = 7\n", "b.toml"),
                       plugins.registries).cells[0]
    assert tuned.encoder.params.timesteps == 7
    assert plain.encoder.params.timesteps == 25
    assert plain.config_hash != tuned.config_hash


def test_typo_in_a_component_name(tmp_path, plugins):
    error = error_of(tmp_path, plugins, BASE.replace('"latency"', '"latncy"'))
    assert error.key == "matrix.encoder" and error.value == "latncy"
    assert error.line == 8
    assert "did you mean 'latency'" in str(error)


def test_unknown_param_key_is_located(tmp_path, plugins):
    error = error_of(tmp_path, plugins, BASE + "\n[params.encoder.rate]\ntimestep = 10\n")
    assert error.key == "params.encoder.rate.timestep" and error.value == 10
    assert error.line == 14
    assert "did you mean 'timesteps'" in str(error)


@pytest.mark.parametrize("table, message", [
    ("[params.encoder.rate]\ntimesteps = 2.5\n", "must be an integer"),
    ("[params.encoder.rate]\ntimesteps = 0\n", "suite.toml:14: params.encoder.rate.timesteps = 0: must be >= 1"),
    ("[params.encoder.rate]\ngain = 1.5\n", "suite.toml:14: params.encoder.rate.gain = 1.5: must lie in (0, 1]"),
    ("[params.neuron.snntorch-lif]\nreset = \"zeroo\"\n", "did you mean 'zero'"),
    ("[params.encoder.delta]\ntimesteps = 5\nthreshold = 0.1\n", "threshold must be at least 1/timesteps"),
    ("[params.encoder.ratte]\ntimesteps = 5\n", "did you mean [params.encoder.rate]"),
    ("[params.encoders.rate]\ntimesteps = 5\n", "did you mean [params.encoder]"),
    ("[training]\nepochs = 0\n", "suite.toml:14: training.epochs = 0: must be >= 1"),
    ("[training]\nlr_milestones = [0, 3]\n", "training.lr_milestones = [0, 3]: each item must be >= 1"),
    ("[training]\nepoch = 2\n", "did you mean 'epochs'"),
    ("[matrixx]\n", "did you mean [matrix]"),
])
def test_bad_values_are_named(tmp_path, plugins, table, message):
    assert message in str(error_of(tmp_path, plugins, BASE + "\n" + table))


def test_missing_matrix_key_and_bad_seeds(tmp_path, plugins):
    assert "list the learning_rule names" in str(error_of(tmp_path, plugins, BASE.replace('learning_rule = ["bptt"]', "")))
    assert "non-empty list of integers" in str(error_of(tmp_path, plugins, BASE.replace("[0, 1]", '["a"]')))
    assert "lists a seed twice" in str(error_of(tmp_path, plugins, BASE.replace("[0, 1]", "[1, 1]")))


def test_invalid_toml_reports_its_line(tmp_path, plugins):
    error = error_of(tmp_path, plugins, BASE + "\n[training]\nepochs = = 3\n")
    assert "not valid TOML" in str(error) and error.line == 14


def test_exclude_and_include(tmp_path, plugins):
    text = BASE + textwrap.dedent("""
        [[exclude]]
        encoder = "latency"

        [[include]]
        dataset = "digits"
        encoder = "direct"
        neuron = "spikingjelly-lif"
        architecture = "mlp"
        learning_rule = "bptt"
    """)
    suite = load_suite(write(tmp_path, text), plugins.registries)
    assert sorted({(c.encoder.name, c.neuron.name) for c in suite.cells}) == [
        ("direct", "spikingjelly-lif"), ("rate", "snntorch-lif")]
    bad = text.replace('[[exclude]]\nencoder = "latency"', '[[exclude]]\nencoderr = "latency"')
    assert "did you mean 'encoder'" in str(error_of(tmp_path, plugins, bad))


def test_incompatible_combinations_are_skipped_with_a_reason(tmp_path, plugins):
    suite = load_suite(write(tmp_path, BASE.replace('["mlp"]', '["mlp", "csnn"]')), plugins.registries)
    assert {c.architecture.name for c in suite.cells} == {"mlp"}
    assert len(suite.skipped) == 2
    assert all("8x8" in s.reason for s in suite.skipped)


def test_an_empty_exclude_entry_is_refused(tmp_path, plugins):
    assert "exclude entry 1 is empty" in str(error_of(tmp_path, plugins, BASE + "\n[[exclude]]\n"))


VARIANTS = suite_toml(encoder=("rate", "rate-half"), extra="""
    [params.encoder.rate]
    timesteps = 6
    [variants.encoder.rate-half]
    of = "rate"
    gain = 0.5
""")


def test_a_variant_is_its_component_with_its_own_params_and_name(tmp_path, plugins):
    suite = load_suite(write(tmp_path, VARIANTS), plugins.registries)
    by_name = {cell.encoder.name: cell.encoder for cell in suite.cells}
    assert by_name["rate"].params.gain == 1.0 and by_name["rate"].variant_of is None
    half = by_name["rate-half"]
    assert half.component == "rate" and half.params.gain == 0.5
    assert half.params.timesteps == 6  # inherited from [params.encoder.rate]
    assert [c.label for c in suite.cells] == ["digits/rate/snntorch-lif/mlp/bptt", "digits/rate-half/snntorch-lif/mlp/bptt"]
    assert suite.cells[0].config_hash != suite.cells[1].config_hash


def test_variants_run_and_are_told_apart_on_the_leaderboard(tmp_path, plugins):
    path = write(tmp_path, VARIANTS + "\n[training]\ntrain_limit = 200\ntest_limit = 100\n")
    db = tmp_path / "r.db"
    assert main(["run", str(path), "--db", str(db), "--no-progress"]) == 0
    rows = ResultStore(db).rows(["t"])
    assert {row["encoder"] for row in rows} == {"rate", "rate-half"}
    half = next(row for row in rows if row["encoder"] == "rate-half")
    assert half["config"]["encoder"]["variant_of"] == "rate"
    assert half["metrics"]["encoder_density"] < 0.6 * next(
        row for row in rows if row["encoder"] == "rate")["metrics"]["encoder_density"]


@pytest.mark.parametrize("variant, message", [
    ('[variants.encoder.rate-half]\ngain = 0.5\n', "is missing: name the registered encoder"),
    ('[variants.encoder.rate-half]\nof = "rat"\n', "unknown encoder"),
    ('[variants.encoder.rate]\nof = "rate"\n', "may not take the name of a registered encoder"),
    ('[variants.encoder.rate-half]\nof = "rate"\ngian = 0.5\n', "gian"),
    ('[variants.encodr.rate-half]\nof = "rate"\n', "did you mean [variants.encoder]"),
])
def test_bad_variants_are_named(tmp_path, plugins, variant, message):
    error = error_of(tmp_path, plugins, suite_toml(extra=variant))
    assert message in str(error)


NAME_RULE = ("a name may hold only letters, digits, '.', '_' and '-', starting with a letter or digit "
             "([A-Za-z0-9][A-Za-z0-9._-]*)")


@pytest.mark.parametrize("name, hint", [
    ("x/../../evil<script>", "e.g. 'x-evil-script'"),
    ("..", None),
    (".hidden", "e.g. 'hidden'"),
    ("two words", "e.g. 'two-words'"),
    ("-flag", "e.g. 'flag'"),
    ("c:a", "e.g. 'c-a'"),
])
def test_suite_and_variant_names_that_could_break_a_page_are_refused(tmp_path, plugins, name, hint):
    """A suite or variant name names the report's files: no path, markup, space or leading dot."""
    error = error_of(tmp_path, plugins, suite_toml(name))
    assert str(error) == (f"{tmp_path / 'suite.toml'}:3: suite.name = '{name}': {NAME_RULE}"
                          + (f" ({hint})" if hint else "")), str(error)
    error = error_of(tmp_path, plugins, suite_toml(extra=f'[variants.encoder."{name}"]\nof = "rate"\n'))
    assert str(error).startswith(f"{tmp_path / 'suite.toml'}:12: [variants.encoder.{name}]: {NAME_RULE}"), error


def test_names_of_every_allowed_character_validate(tmp_path, plugins):
    suite = load_suite(write(tmp_path, suite_toml("v1.2_final-B", encoder=("rate-0.5_x",), extra="""
        [variants.encoder."rate-0.5_x"]
        of = "rate"
        gain = 0.5
        """)), plugins.registries)
    assert suite.name == "v1.2_final-B" and [c.encoder.name for c in suite.cells] == ["rate-0.5_x"]


def test_an_unknown_variant_in_the_matrix_is_named(tmp_path, plugins):
    error = error_of(tmp_path, plugins, suite_toml(encoder=("rate", "rate-hlaf"), extra="""
        [variants.encoder.rate-half]
        of = "rate"
    """))
    assert "rate-hlaf" in str(error) and "unknown encoder" in str(error)


PLAIN_NEURON = '''
from dataclasses import dataclass
from snnbench.api import hookimpl
from snnbench.api.contracts import NeuronSpec, SpikingLayer

@dataclass(frozen=True)
class PlainParams:  # no surrogate gradient, so no slope: only the threshold every neuron takes
    threshold: float = 1.0

class Plain(SpikingLayer):
    def __init__(self, params, features):
        super().__init__()
    def forward(self, current):
        return (current > 1).float()

@hookimpl
def register_neuron_models(register):
    register(NeuronSpec("plain", PlainParams, Plain, differentiable=False))
'''


def test_architectures_that_override_neuron_params_the_neuron_lacks_are_skipped_at_validate(
        tmp_path, monkeypatch):
    (tmp_path / "tplug_plain_neuron.py").write_text(PLAIN_NEURON)
    monkeypatch.syspath_prepend(str(tmp_path))
    from snnbench.definition.plugins import load_plugins
    registries = load_plugins(["tplug_plain_neuron"]).registries
    path = write(tmp_path, suite_toml(neuron=("plain", "snntorch-lif"), architecture=("mlp", "spikformer"), extra="""
        [[include]]
        dataset = "nmnist"
        encoder = "events"
        neuron = "plain"
        architecture = "nmnist-resnet"
        learning_rule = "bptt"
    """))
    suite = load_suite(path, registries)
    assert sorted(c.label for c in suite.cells) == [
        "digits/rate/plain/mlp/bptt", "digits/rate/plain/spikformer/bptt", "digits/rate/snntorch-lif/mlp/bptt",
        "digits/rate/snntorch-lif/spikformer/bptt"]
    reasons = {s.label: s.reason for s in suite.skipped}
    assert reasons == {
        "nmnist/events/plain/nmnist-resnet/bptt":
            "architecture 'nmnist-resnet' sets slope of its neurons, which neuron model 'plain' does not have"}
