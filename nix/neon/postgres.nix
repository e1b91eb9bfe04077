# One PostgreSQL major from Neon's fork, configured the way Neon's postgres.mk configures it
# for a release build (--enable-debug --with-openssl, seccomp on Linux), plus ICU/LZ4/ZSTD as
# in Neon's images, and the contrib modules Neon installs next to the server.
#
# This is a plain autotools build into a single prefix rather than an override of nixpkgs'
# postgresql: nixpkgs splits outputs and patches library lookup, while Neon expects one
# relocatable tree per major (pg_distrib_dir/vNN/{bin,lib,share,include}). PostgreSQL finds
# its lib and share directories relative to its own binary, so the tree can be copied (see
# extensions.nix) and still works.
{
  lib,
  stdenv,
  fetchFromGitHub,
  pkg-config,
  bison,
  flex,
  perl,
  readline,
  zlib,
  openssl,
  libseccomp,
  icu,
  lz4,
  zstd,
  major,
  pin,
}:

stdenv.mkDerivation {
  # The store path contains "postgres", so PostgreSQL's install rules put modules straight in
  # lib/ and headers in include/server (no extra "postgresql" level); pg_config reports them.
  pname = "postgresql-neon-v${major}";
  inherit (pin) version;

  src = fetchFromGitHub {
    owner = "neondatabase";
    repo = "postgres";
    inherit (pin) rev hash;
  };

  strictDeps = true;
  enableParallelBuilding = true;

  nativeBuildInputs = [
    pkg-config
    bison
    flex
    perl
  ];
  buildInputs = [
    readline
    zlib
    openssl
    icu
    lz4
  ]
  ++ lib.optional stdenv.hostPlatform.isLinux libseccomp
  ++ lib.optional (lib.versionAtLeast major "15") zstd;

  # configure calls /bin/pwd, which the build sandbox does not have.
  postPatch = ''
    substituteInPlace configure --replace-quiet /bin/pwd pwd
  '';

  env.CFLAGS = "-fsigned-char -O2 -g";

  configureFlags = [
    "--enable-debug"
    "--with-openssl"
    "--with-icu"
    "--with-lz4"
    # Neon stamps the fork's commit into the version string; stdenv splits configureFlags on
    # spaces, so this one has none.
    "--with-extra-version=-neon-${builtins.substring 0 8 pin.rev}"
  ]
  ++ lib.optional stdenv.hostPlatform.isLinux "--with-libseccomp"
  ++ lib.optional (lib.versionAtLeast major "15") "--with-zstd";

  # The contrib modules postgres.mk installs with every major.
  postInstall = ''
    for m in pg_prewarm pg_buffercache pg_visibility pageinspect pg_trgm amcheck test_decoding; do
      make -C contrib/$m install
    done
  '';

  # Neon runs PostgreSQL's regression suite in its own CI; here it would only add hours.
  doCheck = false;

  passthru = { inherit major; };

  meta = {
    description = "PostgreSQL ${pin.version} from Neon's fork (REL_${major}_STABLE_neon)";
    homepage = "https://github.com/neondatabase/postgres";
    license = lib.licenses.postgresql;
    platforms = lib.platforms.linux;
  };
}
