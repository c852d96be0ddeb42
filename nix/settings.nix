# The daemon's TOML settings as an attribute set, from the module's options. Pure (builtins only).
#
# Precedence: the daemon's own defaults < services.antigravityd.settings < what the other options decide
# (listening address, local database, credential paths). Secrets never appear here: only paths under
# $CREDENTIALS_DIRECTORY, which the daemon expands at start (systemd LoadCredential=).
{ cfg }:
let
  util = import ./util.nix;
  derived = builtins.foldl' util.recursiveUpdate { } [
    { server = { bind = cfg.bind; port = cfg.port; }; }
    (util.optionalAttrs cfg.database.createLocally {
      # Peer authentication over the Unix socket: the service's (dynamic) user is the database role.
      database.url = "postgresql:///${cfg.database.name}?host=/run/postgresql";
    })
    (util.optionalAttrs (cfg.apiKeyFile != null) { security.api_key_file = "$CREDENTIALS_DIRECTORY/api-key"; })
    (util.optionalAttrs (cfg.tokenKeyFile != null) { security.token_key_file = "$CREDENTIALS_DIRECTORY/token-key"; })
    (util.optionalAttrs (cfg.oauthClientSecretFile != null) {
      oauth.client_secret_file = "$CREDENTIALS_DIRECTORY/oauth-client-secret";
    })
  ];
in
builtins.foldl' util.recursiveUpdate { } [ cfg.settings derived ]
