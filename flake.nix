{
  description = "antigravityd: multi-account LLM API gateway (OpenAI, Anthropic and Gemini APIs on Cloud Code)";

  # Lock with `nix flake lock` on a machine with network access; the CI of this repository cannot download
  # nixpkgs and only parse-checks and evaluates the pure parts (tests/deploy/test_nix.py).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs = { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # Only what the package needs: a change to a test or the flake does not rebuild the daemon.
      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions (map lib.fileset.maybeMissing [
          ./pyproject.toml
          ./README.md
          ./antigravityd
          ./migrations
          ./docs
          ./systemd
          ./deploy.sh
          ./tests
        ]);
      };

      # A minimal host with everything switched on, evaluated (not booted) by `nix flake check`.
      exampleHost = system: extra: nixpkgs.lib.nixosSystem {
        inherit system;
        modules = [
          self.nixosModules.default
          ({ ... }: {
            boot.loader.grub.enable = false;
            fileSystems."/" = { device = "/dev/vda"; fsType = "ext4"; };
            system.stateVersion = "25.11";
            networking.hostName = "agd-example";
          })
          extra
        ];
      };
    in
    {
      packages = forAllSystems (pkgs: rec {
        antigravityd = pkgs.callPackage ./nix/package.nix {
          inherit src;
          gitRevision = self.shortRev or self.dirtyShortRev or null;
        };
        default = antigravityd;
      });

      nixosModules.default = { pkgs, lib, ... }: {
        imports = [ ./nix/module.nix ];
        services.antigravityd.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      };

      checks = forAllSystems (pkgs:
        let
          system = pkgs.stdenv.hostPlatform.system;
          primary = exampleHost system {
            services.antigravityd = {
              enable = true;
              database.createLocally = true;
              database.replication = {
                role = "primary";
                passwordFile = "/run/keys/pg-replication";
                replicaAddresses = [ "10.100.0.2/32" ];
                listenAddresses = [ "localhost" "10.100.0.1" ];
              };
              apiKeyFile = "/run/keys/antigravityd-api-key";
              nginx = { enable = true; domain = "llm.example.org"; };
            };
            security.acme = { acceptTerms = true; defaults.email = "ops@example.org"; };
          };
          replica = exampleHost system {
            services.postgresql.enable = true;
            services.antigravityd.database.replication = {
              role = "replica";
              primaryHost = "10.100.0.1";
              passwordFile = "/run/keys/pg-replication";
            };
          };
          # Forces the generated unit files (and with them the checked config file and the package).
          unitsOf = host: pkgs.linkFarm "antigravityd-units" (map
            (name: { inherit name; path = host.config.systemd.units.${name}.unit; })
            (builtins.filter (lib.hasPrefix "antigravityd") (builtins.attrNames host.config.systemd.units)));
        in
        {
          package = self.packages.${system}.default;
          module-primary = unitsOf primary;
          module-replica = pkgs.linkFarm "antigravityd-replica-units" [
            { name = "postgresql.service"; path = replica.config.systemd.units."postgresql.service".unit; }
            { name = "antigravityd-replica-bootstrap.service";
              path = replica.config.systemd.units."antigravityd-replica-bootstrap.service".unit; }
          ];
        });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.stdenv.hostPlatform.system}.default ];
          packages = [
            (pkgs.python3.withPackages (ps: [ ps.pytest ps.pytest-trio ps.hypothesis ps.tomli-w ]))
            pkgs.ruff
            pkgs.shellcheck
            pkgs.postgresql
            pkgs.openssh
            pkgs.rsync
            pkgs.curl
            pkgs.systemd
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixpkgs-fmt);
    };
}
