from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.errors import ToolError
from tools.extract import Link, Passage, extract, find, window

PAGE = """<!doctype html><html><head><title>Test Page</title><style>p{}</style>
<script>var hidden = "SCRIPT TEXT";</script></head><body>
<header><div class="logo">Site Logo</div></header>
<nav class="navbar"><a href="/home">Home nav</a></nav>
<div id="sidebar"><p>Sidebar text</p></div>
<div class="content">
  <h1>Main Heading</h1>
  <p>First paragraph with a <a href="/wiki/Other">link to other</a> and
     <a href="https://example.org/x#frag">external</a>.</p>
  <h2>Section Two</h2>
  <ul><li>item one</li><li>item two</li></ul>
  <p><a href="javascript:alert(1)">js</a> <a href="mailto:a@b.c">mail</a> <a href="#top">top</a>
     <a href="/wiki/Other">duplicate</a></p>
  <div class="breadcrumb">Home &gt; Here</div>
  <form><input value="FORM TEXT"></form>
</div>
<aside>Aside text</aside>
<footer>Footer text</footer>
</body></html>"""


def test_extract_keeps_main_text_and_structure() -> None:
    ex = extract(PAGE, "http://site.test/dir/page.html")
    assert ex.title == "Test Page"
    assert "# Main Heading" in ex.text
    assert "## Section Two" in ex.text
    assert "First paragraph with a link to other and external." in ex.text
    assert "- item one" in ex.text and "- item two" in ex.text
    assert ex.headings == ["Main Heading", "Section Two"]
    for junk in ("SCRIPT TEXT", "Site Logo", "Home nav", "Sidebar text", "Aside text",
                 "Footer text", "FORM TEXT", "Home > Here", "p{}"):
        assert junk not in ex.text


def test_extract_links_are_absolute_deduplicated_and_filtered() -> None:
    ex = extract(PAGE, "http://site.test/dir/page.html")
    assert ex.links == [Link("http://site.test/wiki/Other", "link to other"),
                        Link("https://example.org/x", "external")]


def test_extract_prefers_main_element_and_keeps_article_header() -> None:
    html = ("<body><div>outside</div><main><article><header><h1>Title</h1></header>"
            "<p>Body.</p></article></main></body>")
    ex = extract(html, "http://a.test/")
    assert ex.text == "# Title\nBody."
    assert ex.title == "Title"


def test_extract_base_href_and_garbage_links() -> None:
    html = '<html><head><base href="http://cdn.test/b/"></head><body><a href="x.html">X</a><a href="http://[bad">b</a></body></html>'
    assert extract(html, "http://a.test/").links == [Link("http://cdn.test/b/x.html", "X")]


def test_extract_pre_keeps_whitespace() -> None:
    ex = extract("<body><p>code:</p><pre>a = 1\n    b = 2</pre></body>", "http://a.test/")
    assert "a = 1\n    b = 2" in ex.text


def test_find_plain_is_case_insensitive_and_literal() -> None:
    text = "The Eiffel Tower (1889) is in Paris. eiffel again. a.b and axb"
    found = find(text, "EIFFEL", window=5)
    assert [p.start for p in found] == [4, 37]
    assert found[0] == Passage(4, 10, text[0:15])
    assert [p.start for p in find(text, "a.b")] == [text.index("a.b")]  # '.' is literal
    assert len(find(text, "a.b", regex=True)) == 2


def test_find_errors() -> None:
    with pytest.raises(ToolError):
        find("text", "")
    with pytest.raises(ToolError):
        find("text", "(", regex=True)


def test_window_pages() -> None:
    text = "abcdefghij"
    assert window(text, 1, 4) == ("abcd", 1, 3)
    assert window(text, 3, 4) == ("ij", 3, 3)
    assert window("", 1, 4) == ("", 1, 1)
    for bad in (0, 4):
        with pytest.raises(ToolError):
            window(text, bad, 4)
    with pytest.raises(ToolError):
        window(text, 1, 0)


_HTML_BITS = st.sampled_from([
    "<div>", "</div>", "<p>", "</p>", "<a href='", "'>", "</a>", "javascript:", "<script>",
    "</script>", "&amp;", "&#x0;", "&#99999999;", "<!--", "-->", "<![CDATA[", "]]>", "<h1>",
    "<h7>", "<li>", "<pre>", "<br/>", "<table><tr><td>", "<nav class='x'>", "<main>",
    "<base href='", "http://[::1", "<?xml?>", "<!DOCTYPE x>", "\x00", "\ud7ff", "<", ">", "\"",
    "<div class=", "<svg><foreignObject>", "<a href='//x'>", "<a href=''>", "<article>",
])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_HTML_BITS, st.text(max_size=20)), max_size=60),
       st.text(max_size=10))
def test_fuzz_extract_and_find(parts: list[str], pattern: str) -> None:
    html = "".join(parts)
    try:
        ex = extract(html, "http://fuzz.test/a/b")
        assert isinstance(ex.text, str)
        find(ex.text, pattern)
        find(ex.text, pattern, regex=True)
    except ToolError:
        pass


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_extract_bytes(data: bytes) -> None:
    try:
        extract(data, "http://fuzz.test/")
    except ToolError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200), st.integers(-2, 5), st.integers(-1, 50))
def test_fuzz_window(text: str, page: int, size: int) -> None:
    try:
        chunk, p, n = window(text, page, size)
        assert 1 <= p <= n and len(chunk) <= size
    except ToolError:
        pass
