"""Genealogy pages: a distributor's team and the staff's view of the whole network."""
