"""Server-rendered pages for account managers: portfolio, customer and models, in English and Chinese.

`install_web(app)` (in `pages.py`) adds the pages, the session cookie and the static assets to the
service built by `serving.app.create_app`; everything the pages need lives on `app.state.web`.
"""
