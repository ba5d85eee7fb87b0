"""Creating servers: the roles, one server's setup, and several servers at once."""
