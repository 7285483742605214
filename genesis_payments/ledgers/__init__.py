"""The ledgers: append-only JSONL files, their readers, the hash-chained approval log and its audit."""
