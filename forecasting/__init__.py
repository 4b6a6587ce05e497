"""forecasting layer."""
