"""Identity linking: finds the accounts one operator runs and keeps real people apart."""
