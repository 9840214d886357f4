"""Team-server security: users and roles, sign-in with rate limiting, dataset access lists, the audit
log, and secrets kept encrypted with a key outside the store.

Modules: :mod:`roles` (what each role may do), :mod:`users` (argon2 user store, sign-in),
:mod:`ratelimit`, :mod:`access` (owners and sharing), :mod:`audit` (``audit.record(...)``),
:mod:`vault` (encrypted secrets, connection URLs), :mod:`keys` (keys outside the store),
:mod:`acting` (who acts in this thread), :mod:`db` (the SQLite file they share).
"""
