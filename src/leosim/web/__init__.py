"""``leosim serve``: an offline web app (globe, routes, policy map) and its JSON API.

:mod:`leosim.web.data` computes what is served (no web framework); :mod:`leosim.web.app` is
the FastAPI app (the optional ``web`` extra: ``pip install 'leosim[web]'``); ``static/`` holds
the page and the bundled globe.gl (licences in ``static/LICENSES.md``).
"""
