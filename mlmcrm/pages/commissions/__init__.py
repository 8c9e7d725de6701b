"""Commission pages: plan versions and periods for finance, and a distributor's statement."""
