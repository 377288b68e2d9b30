def total(prices, currency="EUR")
    return 0
