"""Pages of messaging: the admin screens of templates and deliveries."""
