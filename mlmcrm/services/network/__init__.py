"""The genealogy: the sponsor tree and the placement tree of distributors.

Owns enrolment and placement (the holding tank), moves and terminations with their impact, how the
trees are stored and queried at any depth (:mod:`.genealogy_store`), and what the genealogy screens
and the API may read (:mod:`.genealogy_views`).
"""
