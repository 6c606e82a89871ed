"""The operator surface: admin API, dashboard and the per-replica activity record behind them."""
