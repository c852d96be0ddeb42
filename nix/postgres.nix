# PostgreSQL for antigravityd: the local database and the streaming replica, as plain values. Pure (builtins
# only). module.nix turns them into services.postgresql settings; tests/deploy/test_replica_settings.py builds
# a real primary and replica from exactly these values (the store's replica test uses the same recipe:
# pg_basebackup -X stream -c fast, hot_standby=on, wal_level=replica, standby.signal — stack-notes §5).
{ cfg, hostName ? "antigravityd", dataDir ? "/var/lib/postgresql/15" }:
let
  util = import ./util.nix;
  r = cfg.database.replication;
  # Next to the data directory, in the postgres user's home, readable by postgres only.
  passfile = "${dirOf dataDir}/.pgpass-antigravityd-replication";
in
{
  # The database the daemon uses, reached over the Unix socket with peer authentication: the service's
  # dynamic user is called cfg.database.user, and so is the role.
  local = {
    database = cfg.database.name;
    role = cfg.database.user;
    hba = [ "local ${cfg.database.name} ${cfg.database.user} peer" ];
  };

  primary = {
    settings = {
      wal_level = "replica";
      max_wal_senders = r.maxWalSenders;
      wal_keep_size = r.walKeepSize;
      listen_addresses = builtins.concatStringsSep "," r.listenAddresses;
    };
    # One line per replica address: replication connections only, for the replication role, with a password.
    hba = map (address: "host replication ${r.user} ${address} scram-sha-256") r.replicaAddresses;
    # Run by the postgres superuser through psql. psql reads the password from passwordPath with a shell
    # command, so it never appears in argv or in the Nix store.
    roleSql = passwordPath: ''
      \set pw `cat ${passwordPath}`
      SELECT 'CREATE ROLE ${r.user}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${r.user}')\gexec
      ALTER ROLE ${r.user} WITH LOGIN REPLICATION PASSWORD :'pw';
    '';
  };

  replica = {
    settings = {
      hot_standby = true;
      # In postgresql.conf (not postgresql.auto.conf), so a change of primary is a NixOS config change.
      primary_conninfo = builtins.concatStringsSep " " [
        "host=${toString r.primaryHost}"
        "port=${toString r.primaryPort}"
        "user=${r.user}"
        "passfile=${passfile}"
        "application_name=${hostName}"
      ];
    };
    inherit passfile;
    # The first start clones the primary instead of running initdb: a fast checkpoint, WAL streamed during
    # the copy. Instead of -R (which writes primary_conninfo into postgresql.auto.conf, where it would
    # override the settings above) the bootstrap creates standby.signal itself.
    basebackupArgs = [
      "-h" (toString r.primaryHost)
      "-p" (toString r.primaryPort)
      "-U" r.user
      "-X" "stream" "-c" "fast"
    ];
  };
}
