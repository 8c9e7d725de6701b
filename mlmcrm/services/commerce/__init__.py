"""Selling: catalogue, retail customers, orders, Stripe payments and refunds, autoship, sales tax.

Owns products and prices, the customers each distributor serves, orders and their statuses, the
Stripe Checkout and webhook flow, refunds (staff, cooling-off, buyback), monthly autoship orders and
the sales-tax table.
"""
