"""Countries as trade statistics name them, onto keten's `country:<alpha-2>` ids.

Eurostat Comext, CBS and UN Comtrade write partners in ways of their own: ISO 3166-1
alpha-2 codes (Eurostat with `EL` for Greece and `UK` for the United Kingdom), alpha-3
codes (`CHN`), numeric codes (`156`, `076`, or `76` once a spreadsheet has dropped the
zero), ISO names ("Viet Nam", "Türkiye") or everyday ones, and `XK` for Kosovo, which ISO
has not coded. The ISO list comes from pycountry, which follows the standard as it changes.
A partner is looked up, in this order:

1. as the name or an alias of a Country in the store (names analysts gave keten win);
2. as an ISO code or name, exactly but for case;
3. by pycountry's fuzzy search, when that finds one country and no more.

Anything else is refused with the reason, a name that could mean several countries naming
them all (give the code instead): a wrong country in supplier shares would pass every later
check unseen.

>>> index = CountryIndex({}, {})
>>> [index.resolve(p).id for p in ("CHN", "156", "76", "Viet Nam", "Türkiye", "EL", "uk")]
['country:CN', 'country:CN', 'country:BR', 'country:VN', 'country:TR', 'country:GR', 'country:GB']
>>> index.resolve("XK")
Found(id='country:XK', new=IsoCountry(alpha_2='XK', name='Kosovo'))
>>> try:
...     index.resolve("Korea")
... except UnknownCountry as unknown:
...     print(unknown)  # doctest: +NORMALIZE_WHITESPACE
'Korea' could be any of: Korea, Democratic People's Republic of (KP);
 Korea, Republic of (KR); give its ISO code
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pycountry

from keten.graph.store import EntityFilter, GraphStore, paged

EUROSTAT_CODES = {"EL": "GR", "UK": "GB"}
"""Codes that Eurostat uses in place of the ISO ones."""
USER_ASSIGNED = {"XK": "Kosovo", "XKX": "Kosovo"}
"""Codes outside ISO 3166-1 that the EU, the IMF and trade statistics use for a country."""
AMBIGUOUS_SHOWN = 6


class UnknownCountry(ValueError):
    """A partner that names no country, or could name several."""


@dataclass(frozen=True, slots=True)
class IsoCountry:
    """A country of ISO 3166-1 the store does not hold yet."""

    alpha_2: str
    name: str


@dataclass(frozen=True, slots=True)
class Found:
    """The Country id of a partner; `new` when the store lacks it and it is to be created."""

    id: str
    new: IsoCountry | None = None


def iso_alpha_2(text: str) -> str:
    """The ISO 3166-1 alpha-2 code of a code or name; UnknownCountry if there is no one.

    >>> iso_alpha_2("VNM"), iso_alpha_2("076"), iso_alpha_2("Russia")
    ('VN', 'BR', 'RU')
    """
    if text.upper() in EUROSTAT_CODES:
        return EUROSTAT_CODES[text.upper()]
    if text.upper() in USER_ASSIGNED:
        return text.upper()[:2]
    try:
        return str(pycountry.countries.lookup(text.zfill(3) if text.isdigit() else text).alpha_2)
    except LookupError:
        pass
    if text.isdigit() or len(text) <= 3:
        raise UnknownCountry(f"{text!r} is no ISO 3166-1 country code")
    try:
        matches = pycountry.countries.search_fuzzy(text)
    except LookupError:
        why = "is no ISO 3166-1 country name or code, nor a Country's name or alias in the store"
        raise UnknownCountry(f"{text!r} {why}") from None
    if len(matches) == 1:
        return str(matches[0].alpha_2)
    named = "; ".join(f"{c.name} ({c.alpha_2})" for c in matches[:AMBIGUOUS_SHOWN])
    more = f" and {len(matches) - AMBIGUOUS_SHOWN} more" if len(matches) > AMBIGUOUS_SHOWN else ""
    raise UnknownCountry(f"{text!r} could be any of: {named}{more}; give its ISO code")


def iso_name(alpha_2: str) -> str:
    """The name a new Country gets: ISO's common name where it has one ("Taiwan"), else its
    short name ("Viet Nam")."""
    if alpha_2 in USER_ASSIGNED:
        return USER_ASSIGNED[alpha_2]
    country = pycountry.countries.get(alpha_2=alpha_2)
    return str(getattr(country, "common_name", None) or getattr(country, "name", alpha_2))


@dataclass
class CountryIndex:
    """Finds the Country of a partner: in the store by name or alias, else by ISO 3166-1."""

    by_code: dict[str, str]
    """alpha-2 -> Country id in the store (or made by this import)."""
    by_name: dict[str, str]
    """lower-cased name or alias -> Country id in the store."""
    found: dict[str, Found] = field(default_factory=dict)

    @classmethod
    def of(cls, store: GraphStore) -> CountryIndex:
        """The Countries in `store`."""
        by_code: dict[str, str] = {}
        by_name: dict[str, str] = {}
        flt = EntityFilter(kind="Country")
        for row in paged(lambda cursor: store.list_entities(flt, cursor, 1000)):
            code = row.props.get("iso2") or row.id.removeprefix("country:")
            by_code.setdefault(str(code).upper(), row.id)
            for name in [row.name, *(row.props.get("aliases") or [])]:
                by_name.setdefault(str(name).lower(), row.id)
        return cls(by_code, by_name)

    def resolve(self, partner: str) -> Found:
        """The Country of `partner`, `new` set the first time one missing from the store is
        met; raises UnknownCountry naming why none is."""
        text = partner.strip()
        if text in self.found:
            return self.found[text]
        known = self.by_name.get(text.lower())
        if known is not None:
            answer = Found(known)
        else:
            code = iso_alpha_2(text)
            stored = self.by_code.get(code)
            answer = (
                Found(stored)
                if stored
                else Found(f"country:{code}", IsoCountry(code, iso_name(code)))
            )
            self.by_code[code] = answer.id
        self.found[text] = Found(answer.id)
        return answer
