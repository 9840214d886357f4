"""Audiences: a segment saved with its definition refreshes from the store as the data changes; listing,
redefining and deleting; names that cannot name a file are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeys.audiences import AudienceError, Audiences, members_frame, segment_members
from journeys.segments import Filter, Segment


def test_segment_audience_refreshes_from_its_definition(store, write):
    path = write("e.csv", "customer_id,timestamp,touchpoint\nA,2025-01-01T10:00:00Z,cart\nB,2025-01-01T11:00:00Z,home\n"
                          "C,2025-01-02T10:00:00Z,cart\n")
    ds = store.ingest(path, name="shop").dataset_id
    book = Audiences(store.home)
    definition = {"seg": Segment((Filter("did", ("cart",)),)).to_param(), "goal": None}
    members = segment_members(store, ds, definition, 0.0, 1)
    a = book.save("Carts", ds, "segment", definition, members, share=0.0)
    assert a.size == 2 and list(book.members(a).customer_id) == ["A", "C"]
    more = write("f.csv", "customer_id,timestamp,touchpoint\nD,2025-01-03T10:00:00Z,cart\n")
    store.ingest(more, into=ds, as_source="e")  # appended to the same source
    refreshed = book.refresh("Carts", store)
    assert refreshed.size == 3 and refreshed.id == a.id and refreshed.created == a.created
    assert list(book.members("Carts").customer_id) == ["A", "C", "D"]


def test_list_redefine_and_delete(tmp_path: Path):
    book = Audiences(tmp_path)
    book.save("b second", "ds", "segment", {"seg": ""}, members_frame(["1"], share=0.0))
    first = book.save("A first", "ds", "segment", {"seg": ""}, members_frame(["1", "2"], share=0.0))
    assert [a.name for a in book.list()] == ["A first", "b second"]
    again = book.save("A first", "ds", "segment", {"seg": ""}, members_frame(["3"], share=0.0))
    assert again.id == first.id and again.size == 1
    with pytest.raises(AudienceError, match="exists already"):
        book.save("A first", "ds", "segment", {"seg": ""}, members_frame([], share=0.0), replace_existing=False)
    book.delete("A first")
    assert [a.name for a in book.list()] == ["b second"]
    assert not (tmp_path / "audiences" / first.id).exists()


@pytest.mark.parametrize("name", ["../../etc", "a/b", "x" * 81])
def test_names_that_cannot_name_an_audience(tmp_path: Path, name: str):
    with pytest.raises(AudienceError, match="cannot name an audience"):
        Audiences(tmp_path).save(name, "ds", "segment", {"seg": ""}, members_frame(["1"], share=0.0))


@pytest.mark.parametrize("name", ["", "   "])
def test_a_blank_name_is_asked_for(tmp_path: Path, name: str):
    with pytest.raises(AudienceError, match=r"^Give the audience a name\. "):
        Audiences(tmp_path).check_name(name)


def test_a_taken_name_is_refused_unless_replacing(tmp_path: Path):
    book = Audiences(tmp_path)
    first = book.save("Carts", "ds", "segment", {"seg": ""}, members_frame(["1", "2"], share=0.0))
    with pytest.raises(AudienceError, match=r"An audience named 'Carts' exists already \(2 members, segment, refreshed "):
        book.check_name(" Carts ")
    assert book.check_name("Carts", replace_existing=True) == ("Carts", first)
    assert book.check_name("carts") == ("carts", None)  # names are case-sensitive, as the list shows them


def test_predict_and_act_link_values_that_cannot_be_used_say_what_was_expected():
    from journeys.views import ViewState

    _, problems = ViewState.from_params({"ph": ["abc"], "pasof": ["garbage"], "pord": ["9"], "band": ["x"],
                                         "pt": ["maybe"]})
    assert problems == [
        "The link parameter pt='maybe' could not be used (expected conversion or churn); the default applies.",
        ("The link parameter ph='abc' could not be used (expected a whole number of days from 1 to 366, such as 28); "
        "the default applies."),
        "The link parameter pasof='garbage' could not be used (expected a date such as 2025-08-01); the default applies.",
        "The link parameter pord='9' could not be used (expected a whole number from 1 to 4); the default applies.",
        ("The link parameter band='x' could not be used (expected LOW:HIGH with 0 <= LOW <= HIGH <= 1, such as "
        "0.8:1); the default applies.")]


def test_members_keep_their_own_score_and_reason_whatever_the_index():
    """A score band is a slice of a sorted frame: its row labels start anywhere (the trial saw ids without scores
    and scores without ids once the band did not start at the top)."""
    import pandas as pd

    band = pd.DataFrame({"customer_id": ["c9", "c3", "c5"], "score": [0.9, 0.3, 0.5], "reasons": ["r9", "r3", "r5"]},
                        index=[17, 4, 11])
    m = members_frame(band["customer_id"], score=band["score"], reason=band["reasons"], share=0.0)
    assert m[["customer_id", "score", "reason"]].values.tolist() == [["c3", 0.3, "r3"], ["c5", 0.5, "r5"], ["c9", 0.9, "r9"]]
