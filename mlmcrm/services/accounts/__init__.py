"""People's accounts and how they get in: sign-up, sign-in, sessions, 2FA, tokens, profiles.

Owns users and their credentials (passwords with Argon2id, TOTP and recovery codes), server-side
sessions, personal API tokens, email verification and password reset, the notices sent when an
account changes, personal and sensitive details, and the first administrator of a new installation.
"""
