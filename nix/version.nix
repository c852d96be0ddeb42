# The package version, read from antigravityd/__init__.py (the single place it is declared).
{ root }:
let
  text = builtins.readFile (root + "/antigravityd/__init__.py");
  found = builtins.match ''.*__version__ = "([^"]+)".*'' text;
in
if found == null then throw "no __version__ in antigravityd/__init__.py" else builtins.head found
