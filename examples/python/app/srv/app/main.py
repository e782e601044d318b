"""The example app: proves the interpreter, its standard library and the
library cache work (ctypes.util.find_library reads `ldconfig -p`)."""
import ctypes
import ctypes.util
import json
import platform
import sys

sqlite = ctypes.util.find_library("sqlite3")
ctypes.CDLL(sqlite).sqlite3_libversion_number()
print(json.dumps({"greeting": "hello from a bale image", "python": platform.python_version(), "sqlite": sqlite}))
sys.exit(0)
