"""Home pages: a distributor's figures and the company's."""
