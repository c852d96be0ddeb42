# Small helpers with builtins only, so that the pure parts of the NixOS module (settings.nix, units.nix,
# postgres.nix) evaluate offline with `nix-instantiate --eval` and no nixpkgs (see tests/deploy/).
rec {
  # Like lib.recursiveUpdate: attribute sets merge key by key, anything else on the right wins.
  recursiveUpdate = left: right:
    left // builtins.mapAttrs
      (name: value:
        if builtins.isAttrs value && builtins.isAttrs (left.${name} or null)
        then recursiveUpdate left.${name} value
        else value)
      right;

  optionalAttrs = cond: attrs: if cond then attrs else { };
  optionals = cond: list: if cond then list else [ ];

  # Drop the entries whose value is null (unset options).
  filterNull = attrs: builtins.removeAttrs attrs
    (builtins.filter (name: attrs.${name} == null) (builtins.attrNames attrs));

  # "127.0.0.1" + 8045 -> "127.0.0.1:8045"; "::1" -> "[::1]:8045" (systemd's ListenStream= syntax).
  hostPort = host: port:
    if builtins.match ".*:.*" host != null
    then "[${host}]:${toString port}"
    else "${host}:${toString port}";

  isStorePath = path: builtins.substring 0 11 (toString path) == "/nix/store/";
}
