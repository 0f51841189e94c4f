"""A tiny DOM from the stdlib html.parser, enough to check a page the way a reader sees it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)
    parent: Node | None = None

    def iter(self, tag: str | None = None) -> Iterator[Node]:
        for c in self.children:
            if isinstance(c, Node):
                if tag is None or c.tag == tag:
                    yield c
                yield from c.iter(tag)

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        return [n for n in self.iter(tag) if all(n.has(k, v) for k, v in attrs.items())]

    def has(self, key: str, value: str) -> bool:
        key = key.rstrip("_")  # class_ -> class
        got = self.attrs.get(key)
        if got is None:
            return False
        return value in got.split() if key == "class" else got == value

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text for c in self.children]
        return " ".join(" ".join(parts).split())


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.cur = self.root
        self.unclosed: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        node = self.cur
        while node is not None and node.tag != tag:
            node = node.parent
        if node is None:  # stray end tag: the page is malformed
            self.unclosed.append(f"stray </{tag}>")
            return
        self.cur = node.parent or self.root

    def handle_data(self, data: str) -> None:
        self.cur.children.append(data)


def parse(html: str) -> Node:
    b = _Builder()
    b.feed(html)
    b.close()
    if b.unclosed or b.cur is not b.root:
        raise AssertionError(f"malformed HTML: {b.unclosed or 'unclosed <' + b.cur.tag + '>'}")
    return b.root
