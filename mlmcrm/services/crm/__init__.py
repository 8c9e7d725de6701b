"""A distributor's CRM: contacts and the pipeline, tasks and follow-ups, search and imports.

Owns contacts (private to their distributor), their timeline, the pipeline's stages, tasks the
person adds and the ones the app adds, full-text search, and importing vCard and CSV files with
undo. Support and admins open a distributor's records only with a reason, which is audited.
"""
