"""Records protection (21 CFR Part 11 §11.10(c)): back up, restore, verify and archive
central's database so the regulated record survives the machine and its retention.

database.py  which backend a URL names, a plain connection, the audit row for a CLI action
checksum.py  the `FILE.sha256` beside every backup, and backup rotation (`--keep N`)
backup.py    `central backup`: SQLite's online backup API, PostgreSQL's `pg_dump -Fc`
restore.py   `central restore`: hash first, into an empty database only (or `--force`)
verify.py    `central verify`: audit chain and checkpoints, row counts, sequence gaps,
             readings of unknown sensors
archive.py   `central archive` / `central unarchive`: gzipped CSV per table and day with
             a signed manifest, and reading it back into a database for reports
cli.py       the command lines of the four commands
"""
