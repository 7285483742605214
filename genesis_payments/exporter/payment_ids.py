"""The exporter's payment codes: `ledgers.payment_ids.PaymentIds` (the jobs' checkpoints use it too)."""

from genesis_payments.ledgers.payment_ids import PaymentIds, id_keys

__all__ = ["PaymentIds", "id_keys"]
