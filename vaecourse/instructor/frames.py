"""Slider frames for the lecture decks: each explorer's own PNG at every slider value.

A deck has no kernel, so the sliders of the notebook widgets (`vaecourse.widgets`) are replaced
by an HTML range input over pre-rendered frames. The frames come from the explorer itself
(`explorer.show(value)` then `explorer.view.value`, the bytes the notebook widget displays),
so the deck and the notebook show the same image at the same value.
"""

from __future__ import annotations

import ast
import base64
import html
from dataclasses import dataclass
from typing import Any, Callable

from vaecourse import widgets

# Explorers whose arguments are literals, notebook constants or the bank: pre-rendered in decks.
EXPLORERS: dict[str, Callable[..., Any]] = {
    "BetaExplorer": widgets.BetaExplorer,
    "LatentDimExplorer": widgets.LatentDimExplorer,
    "PixelLossExplorer": widgets.PixelLossExplorer,
}
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@dataclass(frozen=True)
class Frames:
    """One slider: its name, the value labels and the PNG shown at each value."""

    name: str
    labels: list[str]
    pngs: list[bytes]
    start: int  # index of the value the widget opens at


def explorer_frames(explorer: Any) -> Frames:
    """Every option of `explorer.slider`, rendered by `explorer.show` (the widget's own path)."""
    labels = [label for label, _ in explorer.slider.options]  # (label, value) pairs, as the widget shows them
    values = [value for _, value in explorer.slider.options]
    start = values.index(explorer.slider.value)
    pngs = []
    for value in values:
        explorer.show(value)
        pngs.append(bytes(explorer.view.value))
    explorer.show(values[start])
    return Frames(explorer.slider.description, labels, pngs, start)


def explorer_call(source: str) -> ast.Call | None:
    """The first call of a pre-renderable explorer in a cell's code, else None."""
    try:
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.startswith(("%", "!"))))
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in EXPLORERS:
            return node
    return None


def literal_names(sources: list[str]) -> dict[str, Any]:
    """`NAME = <literal>` assignments at the top level of the given code, later ones winning."""
    names: dict[str, Any] = {}
    for source in sources:
        try:
            body = ast.parse(source).body
        except SyntaxError:
            continue
        for node in body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    names[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
    return names


def build_explorer(call: ast.Call, names: dict[str, Any], resolve: Callable[[str], Any]) -> Any:
    """Construct the explorer of `call`; names come from `names`, else `resolve(name)` (e.g. the bank)."""

    def value(node: ast.expr) -> Any:
        if isinstance(node, ast.Name):
            return names[node.id] if node.id in names else resolve(node.id)
        return ast.literal_eval(node)  # ValueError for anything else: not pre-renderable

    args = [value(a) for a in call.args]
    kwargs = {k.arg: value(k.value) for k in call.keywords if k.arg}
    return EXPLORERS[call.func.id](*args, **kwargs)


def frames_html(frames: Frames) -> str:
    """A range input over `<img>` frames (all but the current one hidden); the deck's script wires it."""
    name = html.escape(frames.name)
    images = "".join(
        f'<img class="vaecourse-deck-frame" data-label="{html.escape(label)}" alt="{name} = {html.escape(label)}"'
        f' src="data:image/png;base64,{base64.b64encode(png).decode()}"{"" if i == frames.start else " hidden"}>'
        for i, (label, png) in enumerate(zip(frames.labels, frames.pngs)))
    return (f'<div class="vaecourse-deck-slider"><label>{name} '
            f'<input type="range" class="vaecourse-deck-range" min="0" max="{len(frames.pngs) - 1}" step="1" '
            f'value="{frames.start}" aria-label="{name}"></label> '
            f'<output class="vaecourse-deck-value">{html.escape(frames.labels[frames.start])}</output>'
            f'<div class="vaecourse-deck-frames">{images}</div></div>')


def saved_widget_png(notebook_metadata: dict, model_id: str) -> bytes | None:
    """The PNG that an Image inside saved widget `model_id` showed when the notebook was saved."""
    state = notebook_metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    stack, seen = [model_id], set()
    while stack:
        key = stack.pop()
        model = state.get(key)
        if key in seen or model is None:
            continue
        seen.add(key)
        if model.get("model_name") == "ImageModel":
            for buffer in model.get("buffers", []):
                if buffer.get("path") == ["value"] and buffer.get("encoding") == "base64":
                    return base64.b64decode(buffer["data"])
        stack += [c.removeprefix("IPY_MODEL_") for c in model.get("state", {}).get("children", [])]
    return None
