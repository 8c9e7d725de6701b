"""Account pages: sign-in, sign-up, password reset, and the person's own account.

Sign-in and its 2FA step, sign-up and email confirmation, password reset, the person's profile,
sessions, API tokens and 2FA settings, and the admin's list of people.
"""
