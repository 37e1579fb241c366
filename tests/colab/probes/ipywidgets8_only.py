"""Widget code that works only on ipywidgets 8: each test must FAIL in .venv-colab (7.7.1).

Not collected by `make test` (the name does not start with test_). tests/colab/test_colab_venv.py
runs it through run_tests.sh in both venvs: it passes on ipywidgets 8 and fails on Colab's 7.7.1,
which proves that the Colab run catches a widget that needs ipywidgets 8.
"""
import ipywidgets as widgets


def redraws(slider: widgets.Widget, new_value) -> bool:
    seen = []
    slider.observe(lambda change: seen.append(change["new"]), names="value")
    slider.value = new_value
    return seen == [new_value]


def test_slider_with_tooltip_keyword_redraws():
    # ipywidgets 8 renamed description_tooltip to tooltip; 7.7.1 ignores it with a warning only.
    slider = widgets.FloatSlider(value=1.0, min=0.0, max=4.0, tooltip="β weighs the KL term")
    assert redraws(slider, 2.0)


def test_label_with_font_style_shows():
    # Label font styling is new in ipywidgets 8 (7.7.1: unknown style keyword).
    label = widgets.Label("KL", style={"font_weight": "bold"})
    assert label.value == "KL"


def test_stack_of_views_switches():
    # The Stack container exists only in ipywidgets 8.
    stack = widgets.Stack([widgets.Output(), widgets.Output()], selected_index=0)
    stack.selected_index = 1
    assert stack.selected_index == 1
