# NixOS module: services.antigravityd.
#
# The unit files, the daemon's settings and the PostgreSQL parameters are computed by the pure files next to
# this one (units.nix, settings.nix, postgres.nix), which the test suite evaluates offline; this file declares
# the options and wires those values into NixOS. What can only be checked on a real NixOS machine is listed
# in docs/runbook.md ("Verified here / only on NixOS").
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf mkMerge types;
  cfg = config.services.antigravityd;
  repl = cfg.database.replication;
  util = import ./util.nix;
  toml = pkgs.formats.toml { };

  settings = import ./settings.nix { inherit cfg; };
  rawConfigFile = toml.generate "antigravityd.toml" settings;
  # Validate the settings with the daemon's own loader at build time, as nginx's module does with `nginx -t`.
  configFile =
    if cfg.checkConfig then
      pkgs.runCommand "antigravityd-config.toml" { } ''
        ${cfg.package}/bin/antigravityd --config ${rawConfigFile} config show > /dev/null
        cp ${rawConfigFile} $out
      ''
    else rawConfigFile;

  units = import ./units.nix { inherit cfg configFile; package = cfg.package; };
  pg = import ./postgres.nix {
    inherit cfg;
    hostName = config.networking.hostName;
    dataDir = config.services.postgresql.dataDir;
  };
  pgPackage = config.services.postgresql.package;

  secretOptions = {
    apiKeyFile = "API key for clients and the admin API (security.api_key_file)";
    tokenKeyFile = "key that encrypts OAuth tokens at rest (security.token_key_file)";
    oauthClientSecretFile = "Google OAuth client secret (oauth.client_secret_file)";
  };
  secretOption = description: mkOption {
    type = types.nullOr types.str;
    default = null;
    example = "/run/keys/antigravityd-api-key";
    description = ''
      Path of a file holding the ${description}, outside the Nix store. systemd passes it to the daemon with
      LoadCredential=; it is never copied into the store, the unit or the config file. Unset: the daemon's
      default (generated in the state directory where that is possible).
    '';
  };
  hasKey = path: attrs:
    builtins.length path == 0
    || (builtins.isAttrs attrs && attrs ? ${builtins.head path} && hasKey (builtins.tail path) attrs.${builtins.head path});
  urlHasPassword = url: builtins.match "[a-z]+://[^/@]*:[^/@]*@.*" url != null;
in
{
  options.services.antigravityd = {
    enable = mkEnableOption "antigravityd, the multi-account LLM API gateway";

    package = mkOption {
      type = types.package;
      description = "The antigravityd package (the flake's packages.<system>.default).";
    };

    bind = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = "Address of the listening socket (IPv4 or IPv6). Keep loopback behind nginx.";
    };

    port = mkOption {
      type = types.port;
      default = 8045;
      description = "TCP port of the listening socket.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the port in the firewall (only useful with a non-loopback bind and no nginx).";
    };

    settings = mkOption {
      type = toml.type;
      default = { };
      example = { server.drain_timeout = 60; routing.max_concurrent_per_account = 3; log.level = "info"; };
      description = ''
        Daemon settings, rendered to TOML (`antigravityd config show --defaults` lists every key). bind, port,
        the local database URL and the credential paths are filled in from the other options. Never put a
        secret here: everything in this attribute set ends up world-readable in the Nix store.
      '';
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = "Validate the rendered settings with `antigravityd config show` at build time.";
    };

    apiKeyFile = secretOption secretOptions.apiKeyFile;
    tokenKeyFile = secretOption secretOptions.tokenKeyFile;
    oauthClientSecretFile = secretOption secretOptions.oauthClientSecretFile;

    watchdogSec = mkOption {
      type = types.ints.positive;
      default = 30;
      description = "WatchdogSec= of the service; the daemon pings at half this interval.";
    };

    blueGreen.enable = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Run the daemon as antigravityd@blue / antigravityd@green, two slots sharing antigravityd.socket, for
        restarts without a stall (deploy.sh starts the idle slot, waits for READY=1 and /api/health, then
        stops the old one). Off: a single antigravityd.service; `systemctl restart` then loses nothing but
        holds new connections in the socket backlog while the old process drains.
      '';
    };

    releaseDir = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/opt/antigravityd";
      description = ''
        Run the release that deploy.sh manages under this directory (releases/<id>, current, previous and one
        link per slot) instead of the package, so that deploys and rollbacks need no nixos-rebuild. Unset:
        the units run `package` and a nixos-rebuild deploys.
      '';
    };

    database = {
      createLocally = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Run PostgreSQL on this host with a database and a role named `database.user`, reached over the
          Unix socket with peer authentication (no password). Unset: settings.database.url, or the embedded
          SQLite store in the state directory when that is empty too.
        '';
      };
      name = mkOption {
        type = types.str;
        default = "antigravityd";
        description = "Database name.";
      };
      user = mkOption {
        type = types.str;
        default = "antigravityd";
        description = "The service's (dynamic) user name, and the database role peer authentication maps it to.";
      };

      replication = {
        role = mkOption {
          type = types.enum [ "none" "primary" "replica" ];
          default = "none";
          description = ''
            Streaming replication of the PostgreSQL on this host. `primary`: wal_level=replica, WAL senders, a
            replication role and pg_hba lines for `replicaAddresses`. `replica` (a second host, the daemon
            need not run there): the first start clones `primaryHost` with pg_basebackup, then PostgreSQL
            runs as a hot standby following it.
          '';
        };
        user = mkOption {
          type = types.str;
          default = "replicator";
          description = "Replication role on the primary.";
        };
        passwordFile = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "File with the replication role's password (outside the Nix store), on both hosts.";
        };
        replicaAddresses = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [ "10.100.0.2/32" ];
          description = "Primary: addresses (CIDR) replicas connect from.";
        };
        listenAddresses = mkOption {
          type = types.listOf types.str;
          default = [ "localhost" ];
          example = [ "localhost" "10.100.0.1" ];
          description = "Primary: addresses PostgreSQL listens on; add the one replicas reach (e.g. a WireGuard IP).";
        };
        maxWalSenders = mkOption {
          type = types.ints.positive;
          default = 10;
          description = "Primary: max_wal_senders.";
        };
        walKeepSize = mkOption {
          type = types.str;
          default = "1GB";
          description = "Primary: wal_keep_size, how much WAL is kept for a replica that falls behind.";
        };
        primaryHost = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "10.100.0.1";
          description = "Replica: the primary's address.";
        };
        primaryPort = mkOption {
          type = types.port;
          default = 5432;
          description = "Replica: the primary's port.";
        };
      };
    };

    nginx = {
      enable = mkEnableOption "an nginx virtual host with TLS in front of the daemon";
      domain = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "llm.example.org";
        description = "Server name of the virtual host.";
      };
      acme = mkOption {
        type = types.bool;
        default = true;
        description = "Get the certificate from Let's Encrypt (security.acme must be configured) and force HTTPS.";
      };
    };
  };

  config = mkMerge [
    (mkIf cfg.enable {
      assertions =
        map
          (name: {
            assertion = cfg.${name} == null || !(util.isStorePath cfg.${name});
            message = "services.antigravityd.${name} must not point into the Nix store (it is world-readable).";
          })
          (builtins.attrNames secretOptions)
        ++ [
          {
            assertion = !(hasKey [ "security" "api_key" ] cfg.settings) && !(hasKey [ "oauth" "client_secret" ] cfg.settings);
            message = "services.antigravityd.settings must not contain secrets: use apiKeyFile / oauthClientSecretFile.";
          }
          {
            assertion = !(urlHasPassword (settings.database.url or "")) && !(urlHasPassword (settings.database.replica_url or ""));
            message = "services.antigravityd.settings.database URLs must not contain a password (use peer auth or a .pgpass).";
          }
          {
            assertion = !cfg.database.createLocally || cfg.database.name == cfg.database.user;
            message = "services.antigravityd.database.name and .user must be equal with createLocally (the role owns the database).";
          }
          {
            assertion = !cfg.nginx.enable || cfg.nginx.domain != null;
            message = "services.antigravityd.nginx.domain must be set when nginx.enable is true.";
          }
        ];

      # curl: deploy.sh probes /version and /api/health on the host.
      environment.systemPackages = [ cfg.package pkgs.curl ];
      systemd.sockets = units.sockets;
      systemd.services = units.services;
      networking.firewall.allowedTCPPorts = lib.optional cfg.openFirewall cfg.port;
    })

    (mkIf (cfg.enable && cfg.database.createLocally) {
      services.postgresql = {
        enable = true;
        ensureDatabases = [ pg.local.database ];
        ensureUsers = [{ name = pg.local.role; ensureDBOwnership = true; }];
        authentication = lib.mkBefore (lib.concatStringsSep "\n" pg.local.hba);
      };
    })

    (mkIf (repl.role != "none") {
      assertions = [
        {
          assertion = repl.passwordFile != null && !(util.isStorePath repl.passwordFile);
          message = "services.antigravityd.database.replication.passwordFile must be set, outside the Nix store.";
        }
        {
          assertion = repl.role != "replica" || (repl.primaryHost != null && !cfg.database.createLocally);
          message = "A replica needs database.replication.primaryHost and cannot also create the database locally.";
        }
      ];
    })

    (mkIf (repl.role == "primary") {
      services.postgresql = {
        enable = true;
        settings = pg.primary.settings;
        authentication = lib.mkAfter (lib.concatStringsSep "\n" pg.primary.hba);
      };
      # The replication role and its password; the password is read from the credential at run time.
      systemd.services.antigravityd-replication-role = {
        description = "PostgreSQL replication role for the antigravityd replica";
        wantedBy = [ "multi-user.target" ];
        after = [ "postgresql.service" ];
        requires = [ "postgresql.service" ];
        serviceConfig = {
          Type = "oneshot";
          User = "postgres";
          LoadCredential = [ "replication-password:${toString repl.passwordFile}" ];
        };
        script = ''
          ${pgPackage}/bin/psql -v ON_ERROR_STOP=1 -d postgres -q <<'SQL'
          ${pg.primary.roleSql "\"$CREDENTIALS_DIRECTORY/replication-password\""}
          SQL
        '';
      };
    })

    (mkIf (repl.role == "replica") {
      services.postgresql = {
        enable = true;
        settings = pg.replica.settings;
      };
      # An empty data directory is cloned from the primary before PostgreSQL's own start-up would initdb it.
      systemd.services.antigravityd-replica-bootstrap = {
        description = "Clone the antigravityd PostgreSQL primary for a streaming replica";
        requiredBy = [ "postgresql.service" ];
        before = [ "postgresql.service" ];
        after = [ "network-online.target" ];
        wants = [ "network-online.target" ];
        unitConfig.ConditionPathExists = "!${config.services.postgresql.dataDir}/PG_VERSION";
        path = [ pgPackage ];
        serviceConfig = {
          Type = "oneshot";
          User = "postgres";
          Group = "postgres";
          StateDirectory = "postgresql";
          LoadCredential = [ "replication-password:${toString repl.passwordFile}" ];
        };
        script = ''
          set -euo pipefail
          umask 077
          data=${lib.escapeShellArg config.services.postgresql.dataDir}
          # .pgpass fields escape ':' and '\'.
          password=$(sed 's/[\\:]/\\&/g' "$CREDENTIALS_DIRECTORY/replication-password")
          printf '%s:%s:replication:%s:%s\n' ${lib.escapeShellArgs [ repl.primaryHost (toString repl.primaryPort) repl.user ]} \
            "$password" > ${pg.replica.passfile}
          rm -rf "$data.clone"
          PGPASSFILE=${pg.replica.passfile} pg_basebackup ${lib.escapeShellArgs pg.replica.basebackupArgs} -D "$data.clone"
          touch "$data.clone/standby.signal"
          rmdir "$data" 2>/dev/null || true
          mv "$data.clone" "$data"
        '';
      };
    })

    (mkIf (cfg.enable && cfg.nginx.enable) {
      services.nginx = {
        enable = true;
        recommendedProxySettings = true;
        recommendedTlsSettings = true;
        virtualHosts.${cfg.nginx.domain} = {
          enableACME = cfg.nginx.acme;
          forceSSL = cfg.nginx.acme;
          locations."/" = {
            proxyPass = "http://${util.hostPort (if cfg.bind == "0.0.0.0" || cfg.bind == "::" then "127.0.0.1" else cfg.bind) cfg.port}";
            extraConfig = ''
              # Streams (SSE) must reach the client event by event, and may run for minutes.
              proxy_buffering off;
              proxy_request_buffering off;
              proxy_read_timeout 900s;
              proxy_send_timeout 900s;
              client_max_body_size 100m;
            '';
          };
        };
      };
      networking.firewall.allowedTCPPorts = [ 80 443 ];
    })
  ];
}
