from __future__ import annotations

import numpy as np
import orjson
import pytest

from distillguard.simulator import prompt_data
from distillguard.simulator.grammar import Grammar, GrammarError, PromptStream
from distillguard.simulator.population import MAX_PROMPT_CHARS, PROMPT_SUFFIX_ROOM


def test_slots_alternations_and_literal_braces() -> None:
    grammar = Grammar(["{x} says {hi|hello} {{ok}} at 5%"], {"x": ["Ana"]})
    assert set(grammar.sample(np.random.default_rng(0), 50)) == {"Ana says hi {ok} at 5%", "Ana says hello {ok} at 5%"}
    assert grammar.variety == 2
    assert grammar.max_length == len("Ana says hello {ok} at 5%")


@pytest.mark.parametrize("template", ["{nope} here", "broken { brace", "closing } alone"])
def test_bad_templates_are_refused(template: str) -> None:
    with pytest.raises(GrammarError):
        Grammar([template], {"x": ["1"]})


def test_json_samples_are_the_text_samples_escaped() -> None:
    grammar = Grammar(['say "{q}"\n{a|b}'], {"q": ['back\\slash', 'tab\tquote"', "ünï 🙏"]})
    text = grammar.sample_indexed(np.random.default_rng(3), 200)
    escaped = grammar.sample_json(np.random.default_rng(3), 200)
    assert [orjson.loads(b'"' + body + b'"') for body in escaped[0]] == text[0]
    assert (text[1] == escaped[1]).all()


def test_template_weights_are_followed() -> None:
    grammar = Grammar(["a", "b"], weights=[0.9, 0.1])
    texts = grammar.sample(np.random.default_rng(1), 10_000)
    assert 0.88 < texts.count("a") / len(texts) < 0.92


def test_a_stream_does_not_depend_on_how_it_is_read() -> None:
    grammar = prompt_data.casual_grammar()
    whole = PromptStream(grammar, np.random.default_rng(5)).take(5_000)[0]
    stream = PromptStream(grammar, np.random.default_rng(5))
    pieces = stream.take(3)[0] + stream.take(1)[0] + stream.take(4_996)[0]
    assert pieces == whole
    assert len(set(whole)) > 4_900, "casual prompts rarely repeat"


def test_every_grammar_stays_under_the_prompt_limit() -> None:
    grammars = [
        prompt_data.casual_grammar(), prompt_data.developer_grammar(), prompt_data.benchmark_grammar(),
        prompt_data.hydra_grammar(), prompt_data.mimic_grammar(), prompt_data.reseller_grammar(),
        *prompt_data.app_grammars(), *prompt_data.enterprise_tool_grammars(),
        *map(prompt_data.assignment_grammar, prompt_data.ASSIGNMENTS),
    ]
    assert max(g.max_length for g in grammars) <= MAX_PROMPT_CHARS - PROMPT_SUFFIX_ROOM


def test_farm_scaffolds_repeat_while_mimic_paraphrases() -> None:
    hydra, mimic = prompt_data.hydra_grammar(), prompt_data.mimic_grammar()
    assert hydra.variety < 50_000 < mimic.variety
    assert prompt_data.casual_grammar().variety > 10**8
