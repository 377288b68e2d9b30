"""try/except/else/finally, re-raise, chaining, context managers, custom errors."""
import contextlib


class AppError(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code

    def __repr__(self):
        return f"AppError(code={self.code})"


def fails(kind):
    if kind == "key":
        return {}["missing"]
    if kind == "app":
        raise AppError(42)
    return kind


def chain():
    try:
        fails("key")
    except KeyError as exc:
        raise AppError(7) from exc


def main():
    log = []
    for kind in ("ok", "key", "app"):
        try:
            log.append(fails(kind))
        except KeyError:
            log.append("keyerror")
        except AppError as exc:
            log.append(exc.code)
        else:
            log.append("else")
        finally:
            log.append("finally")
    try:
        chain()
    except AppError as exc:
        log.append(repr(exc.__cause__))
    with contextlib.suppress(ZeroDivisionError):
        x = 1 / 0
    try:
        try:
            fails("app")
        except AppError:
            raise
    except AppError as again:
        log.append(again.code)
    return log


print(main())
