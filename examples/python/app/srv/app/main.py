"""The example app: proves the interpreter and its standard library work."""
import json
import platform
import sys

print(json.dumps({"greeting": "hello from a bale image", "python": platform.python_version()}))
sys.exit(0)
