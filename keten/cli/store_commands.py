"""`keten init`, `keten load` and `keten export`: filling and reading the store."""
