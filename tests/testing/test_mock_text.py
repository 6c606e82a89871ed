"""Properties of the mock's text splitting and signatures, which other tests rely on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import guardgate.testing
from guardgate.testing._mock_text import MockSigner, pieces, think_tag_cuts


@given(st.text(), st.integers(min_value=1, max_value=5), st.lists(st.integers(-5, 300)))
def test_pieces_concatenate_back_exactly(text: str, words: int, cuts: list[int]) -> None:
    split = pieces(text, words, cuts)
    assert "".join(split) == text
    assert all(split)


@given(st.text(alphabet="ab \n", max_size=40), st.text(alphabet="xy ", max_size=40))
def test_think_tags_never_travel_whole(reasoning: str, answer: str) -> None:
    content = f"<think>\n{reasoning}\n</think>\n\n{answer}"
    split = pieces(content, cuts=think_tag_cuts(content))
    assert "<thi" in split and "nk>" in split
    assert "</t" in split and "hink>" in split


@given(st.text(), st.booleans())
def test_signatures_verify_only_for_their_text_kind_and_key(text: str, omitted: bool) -> None:
    signer = MockSigner(b"k" * 32)
    signature = signer.sign("thinking", text, omitted=omitted)
    shown = "" if omitted else text
    assert signer.verify("thinking", signature, shown)
    assert signer.verify("thinking", signature)
    assert not signer.verify("redacted", signature)
    assert not MockSigner(b"j" * 32).verify("thinking", signature, shown)
    assert not signer.verify("thinking", signature, shown + "x")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert not signer.verify("thinking", flipped, shown)


def test_garbage_signatures_are_refused() -> None:
    signer = MockSigner(b"k" * 32)
    for junk in ["", "not base64!", "QUJD", None, 42]:
        assert not signer.verify("thinking", junk, "")


def test_package_exports_resolve() -> None:
    for name in guardgate.testing.__all__:
        assert getattr(guardgate.testing, name) is not None
    assert {"ServerThread", "free_port", "create_mock_upstream"} <= set(guardgate.testing.__all__)
