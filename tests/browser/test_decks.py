"""The lecture decks as an instructor uses them: opened from disk in Chromium with the network off.

Builds every deck (`vaecourse.instructor.slides`, into artifacts/decks), then for each one:
every slide is stepped through with the keyboard without a console error or a failed load,
MathJax renders the maths from the bundled copy, and a deck slider moved with the arrow keys
shows another frame. Screenshots go to artifacts/browser/decks/.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from vaecourse.instructor import slides

from .conftest import ARTIFACTS, REPO, skip_or_fail

pytestmark = pytest.mark.browser
LESSONS = sorted((REPO / "notebooks").glob("0*.ipynb"))
SHOTS = ARTIFACTS / "decks"
READY = "window.Reveal && Reveal.isReady() && window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0"


@pytest.fixture(scope="module")
def decks() -> dict[str, Path]:
    """Every lesson's deck, freshly built (the build is part of what is tested)."""
    if not (slides.NODE_MODULES / "reveal.js").is_dir():
        skip_or_fail("decks/node_modules is missing: run `npm ci --prefix decks`")
    SHOTS.mkdir(parents=True, exist_ok=True)
    return {lesson.stem: deck for lesson, deck in zip(LESSONS, slides.build_all(LESSONS, slides.DEFAULT_OUT))}


@pytest.fixture
def offline_page(browser):
    """A page whose every non-file request is aborted and recorded, with console errors recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, offline=True)
    seen: dict[str, list[str]] = {"network": [], "errors": []}

    def route(route):
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            seen["network"].append(route.request.url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
    page.on("pageerror", lambda e: seen["errors"].append(f"page error: {e}"))
    page.on("requestfailed", lambda r: seen["errors"].append(f"failed to load {r.url}: {r.failure}"))
    yield page, seen
    context.close()


def step_through(page, name: str) -> int:
    """Press Space until the last slide, checking each press moves on; returns the slides visited."""
    total = page.evaluate("Reveal.getTotalSlides()")
    visited = 1
    while not page.evaluate("Reveal.isLastSlide() && !Reveal.availableFragments().next"):
        before = page.evaluate("JSON.stringify(Reveal.getIndices())")
        page.keyboard.press("Space")
        assert page.evaluate("JSON.stringify(Reveal.getIndices())") != before, f"{name}: Space did not move on"
        visited += 1
        assert visited <= 3 * total, f"{name}: stepping never reached the last slide"
    page.screenshot(path=str(SHOTS / f"{name}-last.png"))
    return visited


def visible_frame(page, box) -> str:
    return box.evaluate("b => b.querySelector('.vaecourse-deck-frame:not([hidden])').dataset.label")


def move_slider(page, name: str, index: int) -> None:
    """Go to slider `index`, move it with the arrow keys, then give the keys back with Escape."""
    box = page.locator(".vaecourse-deck-slider").nth(index)
    page.evaluate("b => { const i = Reveal.getIndices(b.closest('section')); Reveal.slide(i.h, i.v); }",
                  box.element_handle())
    page.wait_for_timeout(900)  # the slide transition
    page.screenshot(path=str(SHOTS / f"{name}-slider{index}-before.png"))
    start, label_before = visible_frame(page, box), box.evaluate("b => b.querySelector('output').textContent")
    at_end = box.evaluate("b => { const r = b.querySelector('input'); return r.value === r.max; }")
    box.locator("input").focus()
    page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
    moved = visible_frame(page, box)
    assert moved != start, f"{name}: the arrow key did not change the frame"
    assert box.evaluate("b => b.querySelector('output').textContent") == moved != label_before
    assert box.evaluate("b => b.querySelectorAll('.vaecourse-deck-frame:not([hidden])').length") == 1
    page.screenshot(path=str(SHOTS / f"{name}-slider{index}-after.png"))
    slide = page.evaluate("JSON.stringify(Reveal.getIndices())")
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowRight" if not page.evaluate("Reveal.isLastSlide()") else "ArrowLeft")
    assert page.evaluate("JSON.stringify(Reveal.getIndices())") != slide, f"{name}: Escape kept the keys"


@pytest.mark.parametrize("name", [p.stem for p in LESSONS])
def test_deck_works_offline(decks, offline_page, name):
    page, seen = offline_page
    page.goto(decks[name].resolve().as_uri())
    page.wait_for_function(READY)
    page.screenshot(path=str(SHOTS / f"{name}-first.png"))
    # Headings keep their case: the theme's capitals would show β (Greek) as Β, an unreadable "B".
    assert page.evaluate("getComputedStyle(document.querySelector('.reveal h1')).textTransform") == "none"
    assert step_through(page, name) >= page.evaluate("Reveal.getTotalSlides()")
    if any("$" in c.source for c in nbformat.read(REPO / "notebooks" / f"{name}.ipynb", 4).cells if c.cell_type == "markdown"):
        assert page.evaluate("document.querySelectorAll('.MathJax_CHTML').length") > 0, "no maths rendered"
    assert page.evaluate("document.querySelectorAll('.MathJax_Error, merror').length") == 0
    for index in range(page.locator(".vaecourse-deck-slider").count()):
        move_slider(page, name, index)
    assert not seen["network"], f"{name} tried the network: {seen['network']}"
    assert not seen["errors"], f"{name}: {seen['errors']}"


def test_lessons_with_explorers_get_deck_sliders(decks):
    """The β slider (02), the latent-size slider (03) and the pixel-loss slider (01) are in the decks."""
    expected = {"01_reconstruction_loss": "true x", "02_vae_objective": "β", "03_latent_space": "latent dim"}
    for name, slider in expected.items():
        assert f'aria-label="{slider}"' in decks[name].read_text(encoding="utf-8"), name
