"""The baseline of bench/http.py: a minimal Flask app whose one endpoint inserts the request body
as one row in one transaction, on the same database with the same durability settings as the
log (SQLite: WAL, synchronous=FULL, BEGIN IMMEDIATE; PostgreSQL: default commit).

Served by gunicorn with the same settings as the log, from the repository's root:
``gunicorn bench.http_baseline:app``; configured by WASTE_LEDGER_DATABASE_URL and
WASTE_LEDGER_SQLALCHEMY_ENGINE_OPTIONS (JSON), as the log is.
"""

from __future__ import annotations

import json
import os

from flask import Flask, request
from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, Table, create_engine, insert

from ledger.tlog.db import WRITE_OPTION, configure_engine

# Created by bench/http.py before the workers start (an integer key and the body, nothing else).
rows = Table("bench_rows", MetaData(), Column("id", BigInteger, primary_key=True),
             Column("body", LargeBinary, nullable=False))

engine = create_engine(os.environ["WASTE_LEDGER_DATABASE_URL"],
                       **json.loads(os.environ.get("WASTE_LEDGER_SQLALCHEMY_ENGINE_OPTIONS", "{}")))
configure_engine(engine)
app = Flask(__name__)


@app.post("/rows")
def insert_row() -> tuple[dict[str, int], int]:
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        new_id = conn.execute(insert(rows).values(body=request.get_data())).inserted_primary_key
    return {"id": int(new_id[0]) if new_id else 0}, 201
