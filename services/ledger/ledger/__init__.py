"""ledger: accounts, double-entry transactions, balances and the user's profile."""
