"""The CRM pages: contacts (board and list), a contact, today, import, and staff counts."""
