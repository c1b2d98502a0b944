"""Data Docs that render without network, and only the last N runs of them.

GX 1.24's page templates load jQuery, Bootstrap, bootstrap-table, Font Awesome and Vega from
CDNs (and its logo from a web bucket): offline, the index page is blank. The same libraries, at the
versions GX links, are installed from the npm registry by `make install`
(`assets/data_docs/package.json`, locked); after every Data Docs build `make_offline` copies them
into `data_docs/static/vendor/` and points every page at those copies. A library missing from the
install is reported and its CDN link left in place (the docs then need network).

`prune_runs` keeps the validation results and Data Docs pages of the last `keep` runs.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.lib.paths import REPO_ROOT

log = logging.getLogger(__name__)

#: Where `make install` puts the npm packages.
NODE_MODULES = REPO_ROOT / "assets" / "data_docs" / "node_modules"
VENDOR = "static/vendor"
#: GX's images come from a web bucket in the templates; GX also ships them in static/images.
_GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"


@dataclass(frozen=True)
class Asset:
    """One file a CDN URL stands for: its npm package path and its name under static/vendor."""

    source: str
    target: str


#: Every CDN URL of the GX 1.24 templates -> the installed file (see assets/data_docs).
CDN_ASSETS: dict[str, Asset] = {
    "https://code.jquery.com/jquery-3.7.1.min.js": Asset(
        "jquery/dist/jquery.min.js", "jquery.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": Asset(
        "popper.js/dist/umd/popper.min.js", "popper.min.js"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": Asset(
        "bootstrap/dist/js/bootstrap.min.js", "bootstrap.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": Asset(
        "bootstrap/dist/css/bootstrap.min.css", "bootstrap.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": Asset(
        "bootstrap-table/dist/bootstrap-table.min.css", "bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": Asset(
        "bootstrap-table/dist/bootstrap-table.min.js", "bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": Asset(
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
        "bootstrap-table-filter-control.min.js",
    ),
    # The index links the 1.19.0 stylesheet, the pages the 1.19.0 unminified one: same rules.
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": Asset(
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
        "bootstrap-table-filter-control.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": Asset(
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
        "bootstrap-table-filter-control.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": Asset(
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
        "bootstrap-datepicker.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": Asset(
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js", "bootstrap-datepicker.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": Asset(
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
        "bootstrap-prefers-dark.css",
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": Asset("vega/build/vega.min.js", "vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": Asset(
        "vega-lite/build/vega-lite.min.js", "vega-lite.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": Asset(
        "vega-embed/build/vega-embed.min.js", "vega-embed.min.js"
    ),
    # The stylesheet loads ../webfonts/*.woff2, copied beside it (fontawesome/webfonts).
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": Asset(
        "@fortawesome/fontawesome-free/css/all.min.css", "fontawesome/css/all.min.css"
    ),
}
_FONTS = ("@fortawesome/fontawesome-free/webfonts", "fontawesome/webfonts")

# A tag that loads a resource: <script src>, <link href>, <img src>.
_LOADING_TAG = re.compile(r"<(script|link|img)\b[^>]*>", re.IGNORECASE | re.DOTALL)
_URL_ATTR = re.compile(r"""\b(src|href)=(["'])(https?://[^"']+)\2""", re.IGNORECASE)
# Subresource integrity and CORS mode make no sense for local files (and break file:// loads).
_SRI_ATTRS = re.compile(r"""\s(integrity|crossorigin)=(["'])[^"']*\2""", re.IGNORECASE)


def install_assets(docs_dir: Path, node_modules: Path = NODE_MODULES) -> list[str]:
    """Copy the installed libraries under `docs_dir/static/vendor`; return the missing ones."""
    vendor = docs_dir / VENDOR
    missing = []
    copies = [(a.source, a.target) for a in CDN_ASSETS.values()]
    fonts_src, fonts_dst = _FONTS
    if (node_modules / fonts_src).is_dir():
        copies += [
            (f"{fonts_src}/{font.name}", f"{fonts_dst}/{font.name}")
            for font in sorted((node_modules / fonts_src).glob("*.woff2"))
        ]
    else:
        missing.append(fonts_src)
    for source, target in dict.fromkeys(copies):
        src, dst = node_modules / source, vendor / target
        if not src.is_file():
            missing.append(source)
            continue
        if dst.is_file() and dst.stat().st_size == src.stat().st_size:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return missing


def _rewrite_page(html: str, to_static: str, available: set[str]) -> tuple[str, list[str]]:
    """The page with its CDN loads pointed at the local copies; also the URLs left external."""
    left: list[str] = []

    def tag(match: re.Match[str]) -> str:
        text = match.group(0)

        def url(attr: re.Match[str]) -> str:
            address = attr.group(3)
            asset = CDN_ASSETS.get(address)
            if asset is not None and asset.target in available:
                return f'{attr.group(1)}="{to_static}/vendor/{asset.target}"'
            if address.startswith(_GX_IMAGES):
                image = address[len(_GX_IMAGES) :].split("?")[0]
                return f'{attr.group(1)}="{to_static}/images/{image}"'
            left.append(address)
            return attr.group(0)

        rewritten = _URL_ATTR.sub(url, text)
        return _SRI_ATTRS.sub("", rewritten) if rewritten != text else text

    return _LOADING_TAG.sub(tag, html), left


def make_offline(docs_dir: Path, node_modules: Path = NODE_MODULES) -> list[str]:
    """Point every Data Docs page at local copies of its libraries; return URLs left external.

    Idempotent: pages already rewritten are left as they are.
    """
    missing = install_assets(docs_dir, node_modules)
    if missing:
        log.warning(
            "Data Docs assets not installed (run `make install`): %s; those pages need network",
            ", ".join(missing),
        )
    available = {
        str(p.relative_to(docs_dir / VENDOR)) for p in (docs_dir / VENDOR).rglob("*") if p.is_file()
    }
    left: set[str] = set()
    for page in docs_dir.rglob("*.html"):
        to_static = os.path.relpath(docs_dir / "static", page.parent).replace(os.sep, "/")
        html = page.read_text(encoding="utf-8")
        rewritten, external = _rewrite_page(html, to_static, available)
        left.update(external)
        if rewritten != html:
            page.write_text(rewritten, encoding="utf-8")
    return sorted(left)


def prune_runs(quality_dir: Path, keep: int, current: str) -> list[str]:
    """Remove the results and Data Docs pages of all runs but the `keep` most recent ones.

    Runs are the folders of `results/` (one per Dagster run), ordered by modification time; the
    `current` run is always kept. Their GX validation results (the store the Data Docs are built
    from) and their pages go too, so the next build's index lists the kept runs only.
    """
    results = quality_dir / "results"
    if not results.is_dir():
        return []
    runs = sorted(
        (p for p in results.iterdir() if p.is_dir()),
        key=lambda p: (p.name == current, p.stat().st_mtime),
        reverse=True,
    )
    pruned = [p.name for p in runs[keep:] if p.name != current]
    if not pruned:
        return []
    doomed = set(pruned)
    for root in (quality_dir / "gx" / "uncommitted" / "validations", quality_dir / "data_docs"):
        if not root.is_dir():
            continue
        for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
            if folder.name in doomed and folder.exists():
                shutil.rmtree(folder)
    for name in pruned:
        shutil.rmtree(results / name, ignore_errors=True)
    return pruned
