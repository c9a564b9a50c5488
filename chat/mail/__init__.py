"""Mail: outbound notifications and digests through a relay, inbound mail through Salon's receiver.

* ``smtp``: the :class:`Mailer` (aiosmtplib) every outbound mail goes through.
* ``addresses``: signed reply addresses (per user and topic), channel addresses, our Message-IDs.
"""
