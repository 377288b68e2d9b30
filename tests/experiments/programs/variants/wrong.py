def total(prices, currency="EUR"):
    return round(sum(prices), 2)  # forgets the exchange rate
