"""Adapters to the outside world: email (SMTP), and later Stripe, Twilio and file storage."""
