"""What the HTML pages (load.html, report.html) share: the base stylesheet and the jinja2 environment.

Both pages are one offline file each (inline CSS and SVG, no external URL); autoescape is always on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jinja2
from markupsafe import Markup

__all__ = ["BASE_CSS", "page_environment"]

# Layout, type, tables and colours common to every page; each page adds its own rules after these.
BASE_CSS = """\
  :root { --ok: #1b7f3b; --bad: #b42318; --warn: #a15c00; --line: #d9dde3; --muted: #5b6270; }
  * { box-sizing: border-box; }
  body { margin: 0 auto; max-width: 1200px; padding: 1.5rem; color: #1d2128; background: #fff;
         font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
  h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
  h2 { font-size: 1.15rem; margin: 2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 2px solid var(--line); }
  h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
  table { border-collapse: collapse; margin: .4rem 0 1rem; font-variant-numeric: tabular-nums; }
  th, td { border: 1px solid var(--line); padding: .3rem .55rem; text-align: left; vertical-align: top; }
  th { background: #f3f5f8; font-weight: 600; }
  td.num, th.num { text-align: right; }
  td.num { white-space: nowrap; }
  .scroll { overflow-x: auto; max-width: 100%; }
  code, pre { font: 12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
  .verdict-passed { background: var(--ok); }
  .verdict-failed { background: var(--bad); }
  dl.facts dt { color: var(--muted); }
  dl.facts dd { margin: 0; }
  .notes { border-left: 4px solid var(--warn); background: #fff8eb; padding: .4rem .8rem; margin: 1rem 0; }
  .muted, figcaption, .no-data { color: var(--muted); }
  .no-data { font-style: italic; padding: 1rem; border: 1px dashed var(--line); }
  figure svg { width: 100%; height: auto; display: block; }
  .severity-error { color: var(--bad); font-weight: 600; }
  .severity-warning { color: var(--warn); font-weight: 600; }
"""


def page_environment(filters: Mapping[str, Callable[..., Any]]) -> jinja2.Environment:
    """An autoescaping environment with the page filters and ``base_css`` for the template's <style>."""
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True)
    environment.filters.update(filters)
    environment.globals["base_css"] = Markup(BASE_CSS)
    return environment
