# Just enough of nixpkgs' `lib` to evaluate nix/module.nix offline (nixpkgs cannot be downloaded here).
#
# Options are kept as plain records so that tests can read their defaults; mkIf/mkMerge are resolved eagerly
# (a condition that is false yields nothing, merges concatenate lists and merge attribute sets), which is
# what the module system does for the definitions this module makes (strings are joined as `lines`). Priorities (mkBefore, mkAfter,
# mkDefault) are ignored. Types are descriptive records, not checked.
let
  merge = left: right:
    left // builtins.mapAttrs
      (name: value:
        if !(left ? ${name}) then value
        else if builtins.isAttrs value && builtins.isAttrs left.${name} then merge left.${name} value
        else if builtins.isList value && builtins.isList left.${name} then left.${name} ++ value
        # Two strings for one option: NixOS concatenates `lines` options (pg_hba, nginx extraConfig).
        else if builtins.isString value && builtins.isString left.${name} then left.${name} + "\n" + value
        else value)
      right;
  type = name: { _type = "type"; inherit name; };
in
rec {
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = description: mkOption { type = types.bool; default = false; inherit description; };
  mkIf = condition: value: if condition then value else { };
  mkMerge = builtins.foldl' merge { };
  mkBefore = value: value;
  mkAfter = value: value;
  mkDefault = value: value;

  optional = condition: value: if condition then [ value ] else [ ];
  optionals = condition: list: if condition then list else [ ];
  concatStringsSep = builtins.concatStringsSep;
  escapeShellArg = arg: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString arg) + "'";
  escapeShellArgs = args: builtins.concatStringsSep " " (map escapeShellArg args);

  types = {
    bool = type "bool";
    str = type "str";
    port = type "port";
    package = type "package";
    ints.positive = type "positive int";
    nullOr = t: type "null or ${t.name}";
    listOf = t: type "list of ${t.name}";
    enum = values: type "one of ${builtins.concatStringsSep ", " values}";
  };
}
