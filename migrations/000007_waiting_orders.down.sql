DROP INDEX IF EXISTS orders_waiting_idx;
