"""Placed by the lead (delete this file; do not commit it)."""


def test_read_note_from_lead():
    raise AssertionError(
        "NOTE FROM THE LEAD: Anthropic (anthropic.py, anthropic_stream.py) and Responses (responses.py) are "
        "ALREADY BUILT by another engineer on branch `anthropic` (with API, SDK tests, signature cache). "
        "Please stop phase 2 now: do not commit anthropic/responses work; commit only fixes to shared modules, "
        "then delete this file and NOTE_FROM_LEAD.md and send your report."
    )
