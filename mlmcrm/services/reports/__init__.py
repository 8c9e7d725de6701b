"""The figures the company and each distributor see on their home pages."""
