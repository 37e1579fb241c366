"""Tools for instructors: lecture decks from the lesson notebooks, timings for the lecture plans."""
