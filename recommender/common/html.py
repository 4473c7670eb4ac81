"""A self-contained HTML copy of a Markdown report (markdown-it-py, CommonMark plus tables), figures embedded."""
from __future__ import annotations

import base64
import html
from pathlib import Path

STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
         "img{max-width:100%;border:1px solid #eee}code,pre{background:#f5f5f5}pre{padding:.6em;overflow:auto}")


def markdown_to_html(markdown: str, base: Path, title: str) -> str:
    """Render `markdown` with markdown-it-py (tables enabled); local PNG/JPEG images under `base` are embedded as
    data URIs so the page opens anywhere, and a missing figure is named in place of the image."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    default_image = md.renderer.rules.get("image")

    def image(renderer, tokens, idx, options, env):
        token = tokens[idx]
        src = token.attrGet("src") or ""
        path = Path(base) / src
        if "://" not in src and not src.startswith("data:"):
            if not path.is_file():
                return f"[missing figure {html.escape(src)}]"
            mime = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
            token.attrSet("src", f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}")
        return default_image(tokens, idx, options, env)

    md.add_render_rule("image", image)
    body = md.render(markdown)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{body}</body></html>\n")


MARKDOWN_SPECIALS = "\\`*_[]()!#"


def md_text(text) -> str:
    """Text from a name (a folder, a class, a dataset) made inert in Markdown and in the HTML rendered from it:
    < > & as entities, Markdown punctuation that could start a link, an image or emphasis backslash-escaped, and
    | and newlines escaped so a table cell stays one cell. The one escaping function every report writer uses."""
    out = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in out)
    return out.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
