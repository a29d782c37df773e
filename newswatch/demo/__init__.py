"""The bundled demo: news feeds written for newswatch, served locally, so `newswatch run` needs no internet.

- ``feeds/``         RSS 2.0 and Atom files: 16 fictional outlets (wire services, ministries,
                     newspapers, broadcasters) on ``.example`` domains, 8-14 January 2022, in seven
                     languages, with bursts of NATO-Russia talks and troop-buildup coverage, unrelated
                     news, near-duplicate wire copies and deliberately awkward items.
- ``feeds.yaml``     the feeds file template (urls start with ``{base}``); see ``feeds_file.py``.
- ``catalogue.py``   loads the files and renders a feed with any subset of its items.
- ``release.py``     which items are visible how many seconds after the start (pure).
- ``server.py``      the local HTTP server: ``start_demo_server(host, port, clock)``.

Typical use (what ``newswatch run`` does without ``--feeds``)::

    server = await start_demo_server("127.0.0.1", 0)
    Path(feeds_path).write_text(server.feeds_file())   # urls now point at server.base_url
    ...                                                 # run the collector on feeds_path
    await server.close()

This package's modules import nothing heavy at package import; ``server`` needs aiohttp.
"""
