"""Files: where uploaded bytes live (``storage``), what they are (``sniff``), their previews (``previews``).

Below the domain: no database, no actor. ``chat.channels.uploads`` records uploads
and attachments; ``chat.web`` streams bytes in and out through a :class:`~chat.files.storage.BlobStore`.
"""
