def total(prices, currency="EUR"):
    raise NotImplementedError("not written yet")
