# antigravityd built from pyproject.toml with every runtime dependency from nixpkgs.
{ lib
, python3Packages
, src
, gitRevision ? null
}:
let
  ps = python3Packages;
  # The version is declared once, in antigravityd/__init__.py (pyproject reads it from there too).
  version = import ./version.nix { root = src; };
in
ps.buildPythonApplication {
  pname = "antigravityd";
  inherit version src;
  pyproject = true;

  build-system = [ ps.setuptools ];

  # pyproject asks for psycopg[binary] (a manylinux wheel for pip users); nixpkgs' psycopg carries its own
  # C implementation and libpq, so the extra is dropped here.
  postPatch = ''
    substituteInPlace pyproject.toml --replace-fail '"psycopg[binary]>=' '"psycopg>='
  '';

  dependencies = [
    ps.trio
    ps.h11
    ps.httpx
    ps.psycopg
    (ps.psycopg-pool or ps.psycopg.pool)
    ps.prometheus-client
    ps.tomli-w
    ps.orjson
    ps.cryptography
    ps.outcome
    # journal fields (REQUEST_ID, ACCOUNT …) through JournalHandler; nixpkgs calls systemd-python "systemd".
    (ps.systemd-python or ps.systemd)
  ];

  # /version reports the flake's revision; the daemon reads it from this variable.
  makeWrapperArgs = lib.optionals (gitRevision != null) [ "--set-default" "ANTIGRAVITY_GIT_REV" gitRevision ];

  postInstall = ''
    install -Dm644 -t $out/share/doc/antigravityd docs/*.md
    install -Dm644 -t $out/share/antigravityd/systemd systemd/*.socket systemd/*.service
    install -Dm644 -t $out/share/antigravityd/systemd/antigravityd.socket.d systemd/antigravityd.socket.d/*.conf
    install -Dm755 deploy.sh $out/share/antigravityd/deploy.sh

    # What the wheel must carry: the SQL migrations and (once it exists) the web UI.
    site=$out/${ps.python.sitePackages}/antigravityd
    test -n "$(ls $site/migrations)"
    if [ -d antigravityd/admin/static ]; then
      test -n "$(ls -A $site/admin/static)" || { echo "web UI assets missing from the package"; exit 1; }
    fi
  '';

  # After wrapPythonPrograms: the installed command runs (a package missing from the wheel fails here).
  postFixup = ''
    $out/bin/antigravityd --help > /dev/null
    $out/bin/antigravityd version
  '';

  # The test suite needs PostgreSQL, sshd, systemd tools and loopback servers; it runs in CI (scripts/test),
  # not in the sandboxed build.
  doCheck = false;
  pythonImportsCheck = [ "antigravityd" "antigravityd.daemon" "antigravityd.cli" ];

  meta = {
    description = "Multi-account gateway serving OpenAI, Anthropic and Gemini APIs from Google's Cloud Code backend";
    license = lib.licenses.mit;
    mainProgram = "antigravityd";
    platforms = lib.platforms.linux;
  };
}
