"""Selling pages: the shop and checkout, autoship, orders, customers and the catalogue.

A distributor's orders and customers; the staff's order list and catalogue.
"""
