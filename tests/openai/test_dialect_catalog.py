"""The catalogue loader provider plugins use for their model and price data files."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ai_core.dialects.catalog import catalog_from_data, load_catalog

GOOD = """
[[models]]
id = "m1"
capabilities = ["streaming", "tools"]

[[models]]
id = "old"
served_by = "m1"
retired_on = 2026-03-01

[[prices]]
model = "m1"
effective_from = 2026-01-01
input = "1.00"
output = "2"

[[prices]]
model = "m1"
effective_from = 2026-06-01
input = "0.50"
cached_input = "0.10"
output = "1.00"
tiers = [{ above_input_tokens = 1000, input = "1", output = "2" }]

[[prices]]
model = "old"
effective_from = 2025-01-01
input = "9"
output = "9"
"""


def test_loads_models_prices_and_retired_rows() -> None:
    catalog = load_catalog("acme", GOOD)
    models = {m.id: m for m in catalog.models}
    assert models["m1"].capabilities.tools and not models["m1"].capabilities.vision
    assert models["old"].served_by == "m1" and models["old"].deprecated
    old = sorted((p for p in catalog.prices if p.model == "old"), key=lambda p: p.effective_from)
    # its own row, then m1's row in force on the retirement day, then m1's later rows
    assert [(p.effective_from, p.input_per_mtok) for p in old] == [
        (date(2025, 1, 1), Decimal(9)),
        (date(2026, 3, 1), Decimal("1.00")),
        (date(2026, 6, 1), Decimal("0.50")),
    ]
    assert old[-1].tiers and old[-1].provider == "acme"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[prices]]\nmodel = "m"\neffective_from = 2026-01-01\ninput = 1.5\noutput = "1"', "floats lose cents"),
        ('[[prices]]\nmodel = "m"\neffective_from = "2026-01-01"\ninput = "1"\noutput = "1"', "TOML date"),
        ('[[prices]]\nmodel = "m"\neffective_from = 2026-01-01\ninput = "abc"\noutput = "1"', "not a number"),
        ('[[prices]]\nmodel = "m"\neffective_from = 2026-01-01\ninput = "-1"\noutput = "1"', "0 or more"),
        ('[[prices]]\nmodel = "m"\ninput = "1"\noutput = "1"', "effective_from"),
        ('[[models]]\nid = "m"\ncapabilities = ["telepathy"]', "unknown capabilities"),
        ('[[models]]\nname = "no id"', "missing key 'id'"),
        ('[[models]]\nid = "x"\nserved_by = "y"\nretired_on = 2026-01-01', "no price on"),
        ("[[models]\nid=", "not valid TOML"),
        ("models = 1", "array of tables"),
        ("prices = [1, 2]", "array of tables"),
        ('[[models]]\nid = "m"\ncapabilities = "tools"', "key 'capabilities' must be a list"),
        ('[[prices]]\nmodel = "m"\neffective_from = 2026-01-01\ninput = "1"\noutput = "1"\ntiers = [1]', "key 'tiers'"),
        ('[[models]]\nid = "x"\nserved_by = "y"\nretired_on = "soon"', "retired_on"),
    ],
)
def test_bad_catalogues_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_catalog("acme", text, source="acme/data/catalog.toml")


toml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.text(max_size=6)
    | st.dates()
    | st.sampled_from(["1.5", "m1"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "model",
                    "input",
                    "output",
                    "effective_from",
                    "served_by",
                    "retired_on",
                    "capabilities",
                    "tiers",
                    "above_input_tokens",
                    "cached_input",
                    "models",
                    "prices",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)


@given(st.dictionaries(st.sampled_from(["models", "prices"]), toml_values, max_size=2))
def test_any_document_loads_or_raises_value_error(document: dict) -> None:
    try:
        catalog_from_data("acme", document)
    except ValueError:
        pass


@given(st.text(max_size=200))
def test_any_text_loads_or_raises_value_error(text: str) -> None:
    try:
        load_catalog("acme", text)
    except ValueError:
        pass
