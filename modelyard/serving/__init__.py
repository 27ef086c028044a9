"""The HTTP server and its hooks into uvicorn: the only package that imports uvicorn.

``server.py`` runs uvicorn (one SO_REUSEPORT socket per worker, TCP_NODELAY, the app factory),
``httpprotocol.py`` is the HTTP protocol class (google.rpc answers to requests the parser refuses, header
and body limits, the body buffer), ``pathsend.py`` the ``http.response.pathsend`` extension (sendfile
downloads). Each hook into a private uvicorn API has a contract test in ``tests/server/``.
"""
