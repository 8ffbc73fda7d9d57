"""A small accessibility check over a page's HTML: every form control labelled, every image with alt text."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

# Controls a person never fills in or whose text is their own label.
_UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}
_CONTROLS = {"input", "select", "textarea"}


@dataclass
class _Control:
    tag: str
    attrs: dict[str, str | None]
    inside_label: bool

    def describe(self) -> str:
        shown = " ".join(f'{k}="{v}"' for k, v in self.attrs.items() if k in {"id", "name", "type"})
        return f"<{self.tag} {shown}>"


@dataclass
class _Button:
    attrs: dict[str, str | None]
    text: list[str] = field(default_factory=list)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.label_for: set[str] = set()
        self.ids: set[str] = set()
        self.controls: list[_Control] = []
        self.images_without_alt: list[str] = []
        self.buttons: list[_Button] = []
        self._label_depth = 0
        self._open_buttons: list[_Button] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag in _CONTROLS:
            if tag == "input" and (a.get("type") or "text").lower() in _UNLABELLED_INPUT_TYPES:
                if (a.get("type") or "").lower() == "image" and not a.get("alt"):
                    self.images_without_alt.append(f'<input type="image" src="{a.get("src")}">')
                return
            self.controls.append(_Control(tag, a, inside_label=self._label_depth > 0))
        elif tag == "img":
            if "alt" not in a:  # alt="" is right for a decorative image; a missing alt never is
                self.images_without_alt.append(f'<img src="{a.get("src")}">')
        elif tag == "button":
            button = _Button(a)
            self.buttons.append(button)
            self._open_buttons.append(button)

    def handle_endtag(self, tag):
        if tag == "label" and self._label_depth:
            self._label_depth -= 1
        elif tag == "button" and self._open_buttons:
            self._open_buttons.pop()

    def handle_data(self, data):
        for button in self._open_buttons:
            button.text.append(data)


def accessibility_problems(html: str) -> list[str]:
    """Problems found: controls without a label, images without alt, buttons without a name."""
    parser = _Collector()
    parser.feed(html)
    parser.close()
    problems = []
    for control in parser.controls:
        a = control.attrs
        labelled_by = (a.get("aria-labelledby") or "").split()
        if (
            (a.get("id") and a["id"] in parser.label_for)
            or (a.get("aria-label") or "").strip()
            or (labelled_by and all(i in parser.ids for i in labelled_by))
            or control.inside_label
        ):
            continue
        problems.append(f"form control without a label: {control.describe()}")
    problems += [f"image without alt text: {img}" for img in parser.images_without_alt]
    for button in parser.buttons:
        if not "".join(button.text).strip() and not (button.attrs.get("aria-label") or "").strip():
            problems.append(f"button without an accessible name: {button.attrs}")
    return problems
