"""Visual exploration pages: vis-network graphs drawn from keten's answers, for a browser.

The pages are built with pyvis (its `Network` collects nodes, edges and options) and
rendered with keten's own templates, so that nothing is fetched from a CDN: the
vis-network script and style that pyvis ships are served by keten under `/pages/static/`.
Browsers log in once with a key (`/login` sets an HttpOnly cookie); every page then
shows only what that key's clearance may see.
"""
