i = 0
while True:
    i += 1
    if i % 2000 == 0:
        print(i, flush=True)
