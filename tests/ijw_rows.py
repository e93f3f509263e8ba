"""Row builders shared by the iJw renderer and reader tests."""

import pandas as pd


def declaration_line(
    number: str, bsn: str, reference: str, **overrides: object
) -> dict[str, object]:
    """One JW323 Prestatie line (a declarations frame row) with test defaults."""
    row: dict[str, object] = {
        "declaration_number": number,
        "provider_agb": "87654321",
        "municipality_code": "1895",
        "period_start": pd.Timestamp("2024-03-01"),
        "period_end": pd.Timestamp("2024-03-31"),
        "declaration_date": pd.Timestamp("2024-04-05"),
        "bsn": bsn,
        "product_reference": reference,
        "previous_product_reference": None,
        "allocation_number": "700001",
        "product_category": "45",
        "product_code": "45A01",
        "product_period_start": pd.Timestamp("2024-03-01"),
        "product_period_end": pd.Timestamp("2024-03-31"),
        "volume": 10,
        "unit": "04",
        "tariff_cents": 9500,
        "amount_cents": 95000,
        "debit_credit": "D",
    }
    row.update(overrides)
    return row
