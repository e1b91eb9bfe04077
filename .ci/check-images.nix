# nix/images.nix evaluated with stand-ins for the nixpkgs functions and packages it takes,
# so .ci/check-images can lay out each image's root filesystem without nixpkgs. Each stand-in
# package is the directory <store>/<name>, which check-images fills with the programs that
# nixpkgs package puts in bin/ (its table PACKAGE_PROGRAMS). The functions return their
# arguments: streamLayeredImage gives back { contents, fakeRootCommands, config, ... }.
#
#   nix-instantiate --eval --strict --json --argstr store DIR .ci/check-images.nix
{ store }:
let
  images = import ../nix/images.nix;

  # The few nixpkgs lib functions images.nix uses, written out (nixpkgs cannot be fetched
  # where this runs). A new one makes this evaluation fail with its name.
  lib = {
    optional = c: x: if c then [ x ] else [ ];
    optionals = c: l: if c then l else [ ];
    optionalString = c: s: if c then s else "";
    optionalAttrs = c: a: if c then a else { };
    concatMapStringsSep = sep: f: l: builtins.concatStringsSep sep (map f l);
    concatStrings = builtins.concatStringsSep "";
    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (n: {
          name = n;
          value = f n;
        }) names
      );
  };

  package = name: {
    inherit name;
    outPath = "${store}/${name}";
  };

  functions = {
    inherit lib;
    dockerTools.streamLayeredImage = args: args;
    buildEnv = args: {
      buildEnv = {
        inherit (args) name paths;
        pathsToLink = args.pathsToLink or [ "/" ];
      };
    };
    writeTextDir = path: text: { textDir = { inherit path text; }; };
    # Scripts: check-images writes <store>/<name>/bin/<name> with this text.
    writeScriptBin = name: text: package "script-${name}" // { script = { inherit name text; }; };
    writeShellScriptBin = name: text: package "script-${name}" // { script = { inherit name text; }; };
  };

  # Every argument without a default gets its stand-in (a package unless it is a function
  # above); arguments with a default (tag) keep it.
  formals = builtins.functionArgs images;
  wanted = builtins.filter (n: !formals.${n} || functions ? ${n}) (builtins.attrNames formals);
  args = builtins.listToAttrs (
    map (n: {
      name = n;
      value = functions.${n} or (package n);
    }) wanted
  );
in
builtins.mapAttrs (_: image: {
  inherit (image) name fakeRootCommands config;
  contents = image.contents;
  scripts = builtins.concatLists (
    map (
      c:
      if c ? buildEnv then
        builtins.concatMap (p: if p ? script then [ (p.script // { dir = p.outPath; }) ] else [ ]) c.buildEnv.paths
      else
        [ ]
    ) image.contents
  );
}) (images args)
