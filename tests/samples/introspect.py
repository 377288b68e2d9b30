import json
import sys


def where():
    frame = sys._getframe()
    files = []
    while frame is not None:
        files.append(frame.f_code.co_filename)
        frame = frame.f_back
    return files


print("INTROSPECT " + json.dumps({
    "argv": sys.argv, "path": sys.path, "name": __name__, "frames": where(),
    "modules_devsandbox": sorted(m for m in sys.modules if m.startswith("devsandbox")),
    "version": list(sys.version_info[:2]),
}))
