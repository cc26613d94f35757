"""Student text shown to staff stays inert: one allow-list sanitiser and the pages' Content-Security-Policy.

Everything a student writes (markdown answers, raw HTML in them, notebook
outputs, file names) may reach a page a TA opens while logged in to Jupyter,
whose API runs terminals and kernels.  Two layers, each enough on its own:

* :func:`clean_html` keeps only an allow-list of tags and attributes (``nh3``,
  a binding of the maintained Rust sanitiser ammonia): no script, style,
  frame, object, form, base or meta element, no event handler, no style
  attribute; a link only to ``http``, ``https``, ``mailto`` or a ``#`` anchor
  within the page; an image only from an inline ``data:image/...`` URI, so the
  content loads nothing, from the Jupyter server (``/api/...``) or elsewhere.
* every page the kit writes or serves carries a strict policy
  (:data:`STATIC_PAGE_CSP`, :func:`meta_csp`): scripts only the page's own.
"""
from __future__ import annotations

import base64
import hashlib
import html
import re

import nh3

# HTML a written answer may use; everything else is dropped (its text kept, except below).
TAGS = frozenset(nh3.ALLOWED_TAGS - {"area", "map"})
# Dropped with their content: what is code or markup, never text for the reader.
DROP_WITH_CONTENT = frozenset({"script", "style", "template", "iframe", "frame", "frameset", "object", "embed",
                               "applet", "noscript", "noembed", "noframes", "svg", "math", "textarea",
                               "select", "title", "xmp", "head"})
_ATTRIBUTES: dict[str, set[str]] = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES["*"] = {"class", "id", "title", "lang", "dir", "align"}
_ATTRIBUTES["a"] = {"href", "title"}
_ATTRIBUTES["img"] = {"src", "alt", "width", "height", "title"}
# An id gets this prefix, so the content cannot shadow the page's own elements or globals.
ID_PREFIX = "student-"
_IMAGE = re.compile(r"data:image/(png|jpeg|jpg|gif|webp|svg\+xml)[;,]", re.IGNORECASE)
_LINK = re.compile(r"(https?:|mailto:|#)", re.IGNORECASE)
_CLASS = re.compile(r"[\w -]{0,200}")


def _attribute(tag: str, name: str, value: str) -> str | None:
    if name == "src":
        # An image embedded in the notebook (a plot, a pasted picture) is kept; anything that
        # would be fetched (a remote host, the Jupyter server's /api/ or files) is not.
        return value if tag == "img" and _IMAGE.match(value.strip()) else None
    if name == "href":
        value = value.strip()
        if not _LINK.match(value):
            return None  # relative links would reach the Jupyter server (or student files) as the TA
        return f"#{ID_PREFIX}{value[1:]}" if value.startswith("#") and not value.startswith(f"#{ID_PREFIX}") \
            else value
    if name == "class":
        return value if _CLASS.fullmatch(value) else None
    return value


_CLEANER = nh3.Cleaner(tags=set(TAGS), clean_content_tags=set(DROP_WITH_CONTENT),
                       attributes=_ATTRIBUTES, attribute_filter=_attribute,
                       url_schemes={"http", "https", "mailto", "data"}, link_rel="noopener noreferrer",
                       id_prefix=ID_PREFIX, strip_comments=True)


def clean_html(text: object) -> str:
    """``text`` (HTML from a student) with only the allow-listed markup; never raises for what it holds."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text)
    # ammonia works on valid Unicode; a lone surrogate (JSON can spell one) becomes U+FFFD.
    text = text.encode("utf-8", "replace").decode("utf-8")
    return _CLEANER.clean(text)


# -- Content-Security-Policy ----------------------------------------------------------------

def sha256_source(code: str) -> str:
    """A CSP source that allows exactly this inline ``<script>`` or ``<style>`` body."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii") + "'"


def policy(*, scripts: tuple[str, ...] = (), styles: tuple[str, ...] = ("'unsafe-inline'",)) -> str:
    """A page policy: nothing loads or runs but ``scripts`` (sources such as :func:`sha256_source`);
    styles inline (they run no script, and with nothing loadable they cannot send anything out);
    images only inline."""
    return "; ".join([
        "default-src 'none'",
        "script-src " + (" ".join(scripts) or "'none'"),
        f"style-src {' '.join(styles)}",
        "img-src data:",
        "font-src data:",
        "base-uri 'none'",
        "form-action 'none'",
    ])


STATIC_PAGE_CSP = policy()


def meta_csp(csp: str = STATIC_PAGE_CSP) -> str:
    """The policy as a ``<meta>`` element, for a page opened from a file (first in its ``<head>``)."""
    return f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">'
