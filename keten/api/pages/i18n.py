"""The pages in English and Dutch: the language a page is shown in, and its translations.

The Dutch text is a gettext catalogue (`static/pages/locale/nl/LC_MESSAGES/keten.po`), read
with Babel when the first Dutch page is asked for and compiled in memory to a
`gettext.GNUTranslations`, so neither `make run` nor a wheel needs a compile step. English is
the text in the code itself (gettext's "null" translations).

The language is, in this order: `?lang=` on the address (the switch on every page, which the
page then keeps in a cookie), the `keten_lang` cookie, the browser's `Accept-Language`, else
English.

>>> language_of(None, None, "nl-NL,nl;q=0.9,en;q=0.8")
'nl'
>>> language_of(None, "nl", "en-GB"), language_of("en", "nl", "nl"), language_of(None, None, "")
('nl', 'en', 'en')
>>> translator("nl").gettext("Search")
'Zoeken'
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any

LANGUAGES = ("en", "nl")
"""What the pages are written in; the first is the default."""
LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands"}
LANG_COOKIE = "keten_lang"
DOMAIN = "keten"


def accepted(header: str | None) -> list[str]:
    """Primary language tags of an Accept-Language header, most wanted first.

    >>> accepted("en;q=0.5, nl-BE, fr;q=0.7")
    ['nl', 'fr', 'en']
    """
    weighted = []
    for position, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, position, tag.split("-")[0].lower()))
    return [tag for *_, tag in sorted(weighted)]


def language_of(asked: str | None, cookie: str | None, header: str | None) -> str:
    """The page language: the address's `lang`, the cookie, the browser's wish, English."""
    for choice in (asked, cookie):
        if choice in LANGUAGES:
            return str(choice)
    return next((tag for tag in accepted(header) if tag in LANGUAGES), LANGUAGES[0])


@cache
def translator(language: str) -> gettext.NullTranslations:
    """The translations of `language` (English: the text as written)."""
    if language == LANGUAGES[0]:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = files("keten.api") / "static" / "pages" / "locale" / language / "LC_MESSAGES"
    with (po / f"{DOMAIN}.po").open("rb") as handle:
        catalogue = read_po(handle, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def display_name(name: str, props: Mapping[str, Any], language: str) -> str:
    """An entity's name as a page in `language` shows it: its Dutch name on Dutch pages.

    >>> display_name("Drinking water", {"name_nl": "Drinkwater"}, "nl")
    'Drinkwater'
    >>> display_name("Drinking water", {"name_nl": "Drinkwater"}, "en")
    'Drinking water'
    """
    if language == "nl" and props.get("name_nl"):
        return str(props["name_nl"])
    return name


class Lang:
    """A page's language: its code, its translations, and how it names entities.

    >>> Lang("nl")._("Neighbourhood of {name}", name="Drinkwater")
    'Omgeving van Drinkwater'
    """

    def __init__(self, code: str) -> None:
        self.code = code if code in LANGUAGES else LANGUAGES[0]
        self.translations = translator(self.code)

    def _(self, text: str, /, **values: Any) -> str:
        """`text` in this language, with `{name}` fields filled from `values`."""
        translated = self.translations.gettext(text)
        return translated.format(**values) if values else translated

    def name(self, name: str, props: Mapping[str, Any]) -> str:
        """An entity's name in this language (see `display_name`)."""
        return display_name(name, props, self.code)

    def hours(self, value: float) -> str:
        """A number of hours: '12 h' in English, '12 u' in Dutch.

        >>> Lang("en").hours(12.0), Lang("nl").hours(0.5)
        ('12 h', '0.5 u')
        """
        return self._("{hours} h", hours=f"{value:g}")
