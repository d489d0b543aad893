"""Write a new migration from what the models have and the migrations do not yet build.

    python scripts/revision.py "pickup cases"   # -> ledger/migrations/versions/000N_pickup_cases.py

It migrates a scratch SQLite database to the single head, lets Alembic's autogenerate compare it
with the models, and numbers the revision after the head. Read and edit what it writes (renames,
data moves and triggers are not detected); docs/deployment.md, "Schema changes".
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from ledger import migrations


def main(message: str) -> None:
    heads = migrations.heads()
    if len(heads) != 1:
        sys.exit(f"{len(heads)} heads ({', '.join(heads)}): re-point one revision first")
    rev_id = f"{int(heads[0]) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        migrations.upgrade(engine)
        with engine.begin() as conn:
            command.revision(migrations.config(conn), message=message, autogenerate=True,
                             rev_id=rev_id)
        engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
