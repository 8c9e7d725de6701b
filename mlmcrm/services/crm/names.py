"""People's names as they write them: the displayed name, family-name-first scripts, apostrophes.

One place decides how a contact's name is shown (:func:`compose`, used by
:func:`mlmcrm.services.crm.crm.display_name`) and how names compare (:func:`normalize`, used by
search and by duplicate detection alike):

- A name from a source that formats it (vCard ``FN``, a CSV "Name", "Display Name" or
  "File As" column) is shown as written; it is kept in ``contacts.display_name``.
- Otherwise the given and family names are joined. Chinese, Japanese and Korean names are
  written family name first: when a part holds Han, Hiragana, Katakana or Hangul the family
  name comes first, without a space for Chinese and Japanese and with one for Korean
  (王 + 小明 → 王小明, 김 + 민준 → 김 민준).
- Typographic apostrophes (’ ‘ ʼ ′) count as the straight one ('), so O’Brien and O'Brien
  are the same name to search and to duplicate detection. The contacts' search trigger in the
  database applies the same mapping (``translate`` of the same four characters).
"""

from __future__ import annotations

import re

APOSTROPHES = "\u2019\u2018\u02bc\u2032"
"""’ ‘ ʼ ′: written for an apostrophe by word processors, phones and keyboards."""
_TO_STRAIGHT = str.maketrans(dict.fromkeys(APOSTROPHES, "'"))

_HAN_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
"""Hiragana, Katakana and Han (CJK unified ideographs and their extensions in the BMP)."""
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_FAMILY_FIRST = re.compile(_HAN_KANA.pattern[:-1] + _HANGUL.pattern[1:])


def normalize(text: str | None) -> str:
    """``text`` with typographic apostrophes made straight (search and duplicate detection)."""
    return (text or "").translate(_TO_STRAIGHT)


def is_family_first(*parts: str | None) -> bool:
    """Whether a name is written family name first (it holds Han, Kana or Hangul)."""
    return any(part and _FAMILY_FIRST.search(part) for part in parts)


def has_family_first_script(text: str | None) -> bool:
    """Whether ``text`` holds Han, Kana or Hangul (words PostgreSQL full-text does not split)."""
    return bool(text and _FAMILY_FIRST.search(text))


def compose(first_name: str | None, last_name: str | None) -> str:
    """The name made of the given and family names, in the order their script writes them."""
    first, last = (first_name or "").strip(), (last_name or "").strip()
    if not (first and last):
        return first or last
    if not is_family_first(first, last):
        return f"{first} {last}"
    if _HAN_KANA.search(first + last) and not _HANGUL.search(first + last):
        return f"{last}{first}"
    return f"{last} {first}"


def key(text: str | None) -> str:
    """The name as duplicate detection compares it: apostrophes, case and spaces ignored."""
    return " ".join(normalize(text).casefold().split())


def split(full: str | None) -> tuple[str, str]:
    """A formatted name split into (given, family) names at its first space.

    A name in a family-first script gives its first word as the family name (王 小明 → 小明,
    王); one written without a space stays whole as the given name.
    """
    words = (full or "").split()
    if len(words) < 2:  # noqa: PLR2004 - a given and a family name
        return (words[0] if words else ""), ""
    if is_family_first(*words):
        return " ".join(words[1:]), words[0]
    return words[0], " ".join(words[1:])
