"""The leaf of the domain that accounts and channels share: who acts (``actors``) and the event log (``events``).

Both packages write events and take an ``Actor``; neither reaches into the other for them.
"""
