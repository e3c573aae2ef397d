"""Tests for frame ordering."""

from __future__ import annotations

import pytest

from labelbay.errors import Invalid
from labelbay.media.sorting import SORTING_METHODS, sort_names

NAMES = ["img10.png", "img2.png", "Img1.png", "a/img3.png", "b/img1.png", "img1.png"]


def test_methods_listed() -> None:
    assert SORTING_METHODS == ("lexicographical", "natural", "predefined", "random")


def test_lexicographical_is_plain_string_order() -> None:
    assert sort_names(NAMES, "lexicographical") == [
        "Img1.png",
        "a/img3.png",
        "b/img1.png",
        "img1.png",
        "img10.png",
        "img2.png",
    ]


def test_natural_orders_numbers_by_value() -> None:
    names = ["frame_10.jpg", "frame_9.jpg", "frame_100.jpg", "frame_1.jpg"]
    assert sort_names(names, "natural") == [
        "frame_1.jpg",
        "frame_9.jpg",
        "frame_10.jpg",
        "frame_100.jpg",
    ]


def test_natural_is_path_aware() -> None:
    names = ["seq10/1.png", "seq2/10.png", "seq2/9.png", "seq2.png", "seq1/3.png"]
    assert sort_names(names, "natural") == [
        "seq1/3.png",
        "seq2/9.png",
        "seq2/10.png",
        "seq2.png",
        "seq10/1.png",
    ]


def test_natural_does_not_mutate_input() -> None:
    names = ["b.png", "a.png"]
    sort_names(names, "natural")
    assert names == ["b.png", "a.png"]


def test_predefined_with_full_names() -> None:
    names = ["a/x.png", "b/x.png", "c.png"]
    order = ["c.png", "b/x.png", "a/x.png"]
    assert sort_names(names, "predefined", order=order) == order


def test_predefined_with_base_names() -> None:
    names = ["dir/one.png", "dir/sub/two.png", "three.png"]
    order = ["two.png", "three.png", "one.png"]
    assert sort_names(names, "predefined", order=order) == [
        "dir/sub/two.png",
        "three.png",
        "dir/one.png",
    ]


def test_predefined_mixing_full_and_base_names_and_separators() -> None:
    names = ["a/x.png", "b/x.png", "y.png"]
    order = ["y.png", "b\\x.png", "./a/x.png"]
    assert sort_names(names, "predefined", order=order) == ["y.png", "b/x.png", "a/x.png"]


def expect_invalid(names: list[str], order: list[str] | None, file: str, text: str) -> None:
    with pytest.raises(Invalid) as caught:
        sort_names(names, "predefined", order=order)
    error = caught.value
    assert error.detail == {"field": "upload_file_order", "file": file}
    assert "upload_file_order" in error.message
    assert file in error.message
    assert text in error.message


def test_predefined_missing_file() -> None:
    expect_invalid(["a.png", "b.png"], ["a.png"], "b.png", "does not list")


def test_predefined_without_order() -> None:
    expect_invalid(["a.png"], None, "a.png", "does not list")


def test_predefined_file_listed_twice() -> None:
    expect_invalid(["a.png", "b.png"], ["a.png", "b.png", "a.png"], "a.png", "more than once")


def test_predefined_ambiguous_base_name() -> None:
    expect_invalid(["a/x.png", "b/x.png"], ["x.png"], "b/x.png", "matches both")


def test_predefined_full_name_wins_over_base_name() -> None:
    names = ["a/x.png", "b/x.png"]
    assert sort_names(names, "predefined", order=["b/x.png", "x.png"]) == ["b/x.png", "a/x.png"]


def test_predefined_unknown_entry() -> None:
    expect_invalid(["a.png"], ["a.png", "ghost.png"], "ghost.png", "not among the uploaded")


def test_predefined_empty() -> None:
    assert sort_names([], "predefined", order=[]) == []


def test_random_is_a_permutation_and_deterministic() -> None:
    names = [f"{i}.png" for i in range(200)]
    first = sort_names(names, "random", seed=7)
    assert sorted(first) == sorted(names)
    assert first != names
    assert sort_names(list(reversed(names)), "random", seed=7) == first
    assert sort_names(names, "random", seed=8) != first


def test_random_without_seed_is_a_permutation() -> None:
    names = [f"{i}.png" for i in range(50)]
    assert sorted(sort_names(names, "random")) == sorted(names)


@pytest.mark.parametrize("method", ["alphabetical", "", "Natural", "RANDOM"])
def test_unknown_method(method: str) -> None:
    with pytest.raises(Invalid) as caught:
        sort_names(["a.png"], method)
    assert caught.value.detail == {"field": "sorting_method"}
    assert "sorting_method" in caught.value.message
