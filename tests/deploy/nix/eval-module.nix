# Evaluate nix/module.nix offline with stub arguments, for tests/deploy/test_nix.py:
#
#   nix-instantiate --eval --strict --json tests/deploy/nix/eval-module.nix --argstr overrides '{"enable": true}'
#
# returns { defaults, cfg, settings, config } where `defaults` are the options' default values, `cfg` is
# defaults + overrides (the final services.antigravityd values the module sees) and `config` is what the
# module defines (systemd units, postgresql, nginx, assertions …).
{ overrides ? "{}", hostName ? "agd-test", dataDir ? "/var/lib/postgresql/15" }:
let
  lib = import ./stub-lib.nix;
  pkgs = import ./stub-pkgs.nix;
  util = import ../../../nix/util.nix;
  module = import ../../../nix/module.nix;

  # Options do not depend on config; reading them first proves it.
  options = (module { config = throw "options must not depend on config"; inherit lib pkgs; }).options;

  defaultsOf = attrs:
    if (attrs._type or null) == "option" then attrs.default or null
    else builtins.mapAttrs (name: defaultsOf) attrs;
  defaults = defaultsOf options.services.antigravityd;

  cfg = util.recursiveUpdate (defaults // { package = pkgs.antigravityd; }) (builtins.fromJSON overrides);

  config = {
    services.antigravityd = cfg;
    services.postgresql = { package = pkgs.postgresql; inherit dataDir; };
    networking.hostName = hostName;
  };
in
{
  inherit defaults cfg;
  settings = import ../../../nix/settings.nix { inherit cfg; };
  config = (module { inherit config lib pkgs; }).config;
  # roleSql is a function of the password file's path; tests substitute their own for the placeholder.
  postgres = let pg = import ../../../nix/postgres.nix { inherit cfg hostName dataDir; }; in
    pg // { primary = pg.primary // { roleSql = pg.primary.roleSql "@PASSWORD_FILE@"; }; };
}
