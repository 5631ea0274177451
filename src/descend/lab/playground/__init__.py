"""``descend serve``: the chapter's figures made interactive in the browser.

:mod:`~descend.lab.playground.api` answers the page's questions (paths from :func:`descend.minimize`, a
function's contours, momentum's stability map beside theory, schedules) as plain functions of the query;
:mod:`~descend.lab.playground.controls` makes each hyperparameter's control from its default;
:mod:`~descend.lab.playground.server` serves the page (``static/``: ``index.html``, ``app.js``,
``style.css``, all of it from the package) and the API with Starlette under uvicorn.
"""
