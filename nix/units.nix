# The socket and service units of services.antigravityd, in the shape of NixOS's systemd.sockets.<name> and
# systemd.services.<name> options. Pure (builtins only): tests render these to unit files and run
# `systemd-analyze verify` and `systemd-analyze security` on them (tests/deploy/test_nix.py).
#
# The sandbox is the same as in systemd/antigravityd.service (a test checks that they agree).
{ cfg, configFile, package }:
let
  util = import ./util.nix;
  drainTimeout = cfg.settings.server.drain_timeout or 30;
  # systemd SIGKILLs at TimeoutStopSec: leave the daemon its whole drain deadline plus start-up margin.
  timeoutStop = builtins.ceil drainTimeout + 15;

  # Where the program comes from: the package in the Nix store, or (releaseDir set) the release that
  # deploy.sh switched to, so deploys and rollbacks need no nixos-rebuild.
  program = slot:
    if cfg.releaseDir != null
    then "${cfg.releaseDir}/${slot}/bin/antigravityd"
    else "${package}/bin/antigravityd";

  credentials =
    util.optionals (cfg.apiKeyFile != null) [ "api-key:${cfg.apiKeyFile}" ]
    ++ util.optionals (cfg.tokenKeyFile != null) [ "token-key:${cfg.tokenKeyFile}" ]
    ++ util.optionals (cfg.oauthClientSecretFile != null) [ "oauth-client-secret:${cfg.oauthClientSecretFile}" ];

  sandbox = {
    DynamicUser = true;
    # A fixed name: both blue/green slots share one dynamic UID (and, with a local database, one role).
    User = cfg.database.user;
    Group = cfg.database.user;
    StateDirectory = "antigravityd";
    StateDirectoryMode = "0700";
    UMask = "0077";
    NoNewPrivileges = true;
    CapabilityBoundingSet = "";
    AmbientCapabilities = "";
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateUsers = true;
    PrivateIPC = true;
    PrivateMounts = true;
    ProtectHostname = true;
    ProtectClock = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectProc = "invisible";
    # No ProcSubset=pid: prometheus-client needs /proc/stat for its process_* metrics.
    RestrictAddressFamilies = "AF_INET AF_INET6 AF_UNIX";
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    MemoryDenyWriteExecute = true;
    RemoveIPC = true;
    KeyringMode = "private";
    SystemCallArchitectures = "native";
    SystemCallFilter = [ "@system-service" "~@privileged @resources" ];
    SystemCallErrorNumber = "EPERM";
    DevicePolicy = "closed";
  } // util.optionalAttrs (credentials != [ ]) { LoadCredential = credentials; };

  service = slot: {
    description = "antigravityd LLM API gateway" + (if slot == "%i" then " (%i slot)" else "");
    documentation = [ "file://${package}/share/doc/antigravityd/runbook.md" ];
    requires = [ "antigravityd.socket" ];
    after = [ "antigravityd.socket" "network-online.target" ]
      ++ util.optionals cfg.database.createLocally [ "postgresql.service" ];
    wants = [ "network-online.target" ];
    environment = {
      ANTIGRAVITY_CONFIG = configFile;
      PYTHONDONTWRITEBYTECODE = "1";
    };
    unitConfig = {
      StartLimitIntervalSec = 120;
      StartLimitBurst = 5;
    };
    serviceConfig = sandbox // {
      Type = "notify";
      NotifyAccess = "main";
      Sockets = "antigravityd.socket";
      # The new release migrates the schema before it serves anything; migrations stay backward compatible
      # so the other slot keeps working on the new schema (docs/runbook.md).
      ExecStartPre = "${program slot} db migrate";
      ExecStart = "${program slot} serve";
      WatchdogSec = "${toString cfg.watchdogSec}s";
      TimeoutStartSec = "300s";
      TimeoutStopSec = "${toString timeoutStop}s";
      KillMode = "mixed";
      KillSignal = "SIGTERM";
      Restart = "on-failure";
      RestartSec = "1s";
      LimitNOFILE = 65536;
      SyslogIdentifier = "antigravityd";
    };
  };
in
{
  sockets.antigravityd = {
    description = "antigravityd listening socket";
    wantedBy = [ "sockets.target" ];
    listenStreams = [ (util.hostPort cfg.bind cfg.port) ];
    socketConfig = {
      Backlog = 4096;
      NoDelay = true;
      FileDescriptorName = "http";
    } // util.optionalAttrs cfg.blueGreen.enable {
      # With neither slot running, a connection starts the blue one.
      Service = "antigravityd@blue.service";
    };
  };

  services =
    if cfg.blueGreen.enable then {
      # The template. Its slots are started and stopped by deploy.sh (or by hand), never by a NixOS
      # switch, which would restart the serving slot: hence restartIfChanged = false.
      "antigravityd@" = service "%i" // { restartIfChanged = false; };
      # Start the blue slot at boot. Which colour serves is runtime state; both run the same release after
      # a reboot (releaseDir: whatever each slot's link points at).
      "antigravityd@blue" = { overrideStrategy = "asDropin"; wantedBy = [ "multi-user.target" ]; };
    } else {
      antigravityd = service "current" // { wantedBy = [ "multi-user.target" ]; };
    };

  inherit timeoutStop credentials;
}
