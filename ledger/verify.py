"""``python -m ledger.verify DIR``: kept as a thin alias of :mod:`ledger.tlog.verify`.

The verifier moved into ``ledger/tlog/`` with the rest of the trusted core; this module keeps the
documented command working and loads nothing beyond the verifier itself.
"""

from ledger.tlog.verify import main

if __name__ == "__main__":
    raise SystemExit(main())
