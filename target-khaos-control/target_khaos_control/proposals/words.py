"""Returns language: how alike two reason codes or labels are, and what they mean.

Codes and labels are compared as words (`size_too_small` and "Too small" share "too
small"), by rapidfuzz's token and edit-distance ratios. The synonyms table groups the
phrases shoppers and merchants use for the same reason, in English and Spanish, so
"Defective" or "Producto defectuoso" finds a rule for `faulty` though the words differ.
"""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz import fuzz

# Each meaning, and the phrases that say it (as whole words, after normalising).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "faulty": (
        "faulty",
        "defective",
        "damaged",
        "broken",
        "not working",
        "stopped working",
        "doesnt work",
        "does not work",
        "torn",
        "ripped",
        "stained",
        "hole",
        "fault",
        "defect",
        "damage",
        "missing parts",
        "incomplete",
        "shrunk",
        "shrank",
        "faded",
        "peeling",
        "pilling",
        "bobbling",
        "cracked",
        "scratched",
        "leaking",
        "zip",
        "button missing",
        # Spanish: Reveni and many of its merchants are.
        "defectuoso",
        "defectuosa",
        "defecto",
        "roto",
        "rota",
        "danado",
        "danada",
        "no funciona",
        "estropeado",
        "averiado",
        "descosido",
        "manchado",
    ),
    "fit": (
        "too small",
        "too big",
        "too large",
        "too tight",
        "too loose",
        "too long",
        "too short",
        "doesnt fit",
        "does not fit",
        "didnt fit",
        "poor fit",
        "wrong size",
        "size",
        "fit",
        "small",
        "large",
        "tight",
        "loose",
        "snug",
        "baggy",
        "narrow",
        "sizing",
        "uncomfortable",
        "talla",
        "pequeno",
        "pequena",
        "grande",
        "no me queda",
        "ajustado",
        "holgado",
    ),
    "late": (
        "late",
        "delayed",
        "arrived late",
        "took too long",
        "too late",
        "delivery delay",
        "slow delivery",
        "arrived after",
        "after the date",
        "tarde",
        "retraso",
        "retrasado",
    ),
    "not_as_described": (
        "not as described",
        "not as pictured",
        "not as expected",
        "different from picture",
        "different from photo",
        "looks different",
        "colour different",
        "color different",
        "misdescribed",
        "not like the picture",
        "quality",
        "not as advertised",
        "doesnt match",
        "does not match",
        "mismatch",
        "material",
        "cheap looking",
        "feels cheap",
        "no corresponde",
        "no es como",
        "no coincide",
        "descripcion",
        "calidad",
    ),
    "changed_mind": (
        "changed mind",
        "change of mind",
        "changed my mind",
        "no longer needed",
        "no longer wanted",
        "dont want",
        "do not want",
        "unwanted",
        "dont like",
        "did not like",
        "didnt like",
        "ordered by mistake",
        "found cheaper",
        "better price",
        "cheaper elsewhere",
        "bought elsewhere",
        "duplicate",
        "not needed",
        "not suitable",
        "unsuitable",
        "cambio de opinion",
        "he cambiado de opinion",
        "ya no lo quiero",
        "ya no la quiero",
        "no me gusta",
    ),
    "wrong_item": (
        "wrong item",
        "wrong product",
        "wrong colour",
        "wrong color",
        "incorrect item",
        "sent wrong",
        "not what i ordered",
        "wrong article",
        "received wrong",
        "equivocado",
        "producto equivocado",
        "articulo equivocado",
        "producto incorrecto",
        "no es lo que pedi",
    ),
}
UNSELLABLE = frozenset({"faulty"})  # a meaning whose goods may never go back to stock unseen


def words(text: str) -> str:
    """Lower-case words only: `Size_Too-Small` -> `size too small`, "Doesn't fit" -> `doesnt fit`,
    "Talla pequeña" -> `talla pequena` (accents dropped, as codes are written without them)."""
    text = unicodedata.normalize("NFKD", text.replace("'", "").replace("\u2019", ""))
    text = "".join(char for char in text if not unicodedata.combining(char))
    return " ".join(re.findall(r"[a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower()))


def alike(a: str, b: str) -> int:
    """0-100: how alike two codes or labels are as words (order and extra words matter little)."""
    a, b = words(a), words(b)
    if not a or not b:
        return 0
    return round(max(fuzz.token_sort_ratio(a, b), fuzz.token_set_ratio(a, b) - 5 if min(len(a), len(b)) > 4 else 0))


def meanings(text: str) -> set[str]:
    """The synonyms table's meanings that `text` says; the longest phrase found decides a
    tie, so "too small" is fit even though "small" alone would say the same."""
    said = f" {words(text)} "
    found: dict[str, int] = {}
    for meaning, phrases in SYNONYMS.items():
        for phrase in phrases:
            if f" {phrase} " in said:
                found[meaning] = max(found.get(meaning, 0), len(phrase))
    if not found:
        return set()
    longest = max(found.values())
    return {meaning for meaning, length in found.items() if length == longest}
