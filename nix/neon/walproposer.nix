# libwalproposer.a: the walproposer C code from pgxn/neon, built against PostgreSQL 17 with
# -DWALPROPOSER_LIB, next to copies of libpgport.a and libpgcommon.a with the objects removed
# that would pull in OpenSSL and other libraries the Rust side does not link (the list is the
# one in Neon's Makefile, target walproposer-lib). libs/walproposer links these three archives
# from <neon>/build/walproposer-lib.
{
  stdenv,
  curl,
  neonSrc,
  postgres,
  version,
}:

stdenv.mkDerivation {
  pname = "neon-walproposer";
  inherit version;
  src = neonSrc;

  strictDeps = true;
  nativeBuildInputs = [ postgres ];
  buildInputs = [ curl ];

  dontConfigure = true;

  buildPhase = ''
    runHook preBuild
    make -C pgxn/neon PG_CONFIG=${postgres}/bin/pg_config walproposer-lib
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    mkdir -p $out/lib
    cp pgxn/neon/libwalproposer.a $out/lib/
    cp ${postgres}/lib/libpgport.a ${postgres}/lib/libpgcommon.a $out/lib/
    chmod u+w $out/lib/*.a
    $AR d $out/lib/libpgport.a pg_strong_random.o
    $AR d $out/lib/libpgcommon.a \
      checksum_helper.o cryptohash_openssl.o hmac_openssl.o md5_common.o \
      parse_manifest.o scram-common.o
  ''
  + (
    if stdenv.hostPlatform.isLinux then
      ''
        $AR d $out/lib/libpgcommon.a pg_crc32c.o
      ''
    else
      ""
  )
  + ''
    runHook postInstall
  '';
}
