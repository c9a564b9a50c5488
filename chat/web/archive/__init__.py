"""The archive: pages to browse a conversation's topics and messages, and the export endpoints.

``pages`` (``/archive/…``), ``api`` (the REST exports), ``exporting`` (the
streamed responses), ``bundle`` (the verifiable HTML zip).
"""
