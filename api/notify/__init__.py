"""Telling people: what a notification says (``messages``), and sending it by Web Push
(``webpush``) and signed webhooks (``webhooks``) outside the request, with retries
(``deliver``). The notifications themselves are written by ``ledger.audit.notifications``."""
