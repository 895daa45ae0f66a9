# Debian packages from this build tree: `cpack -G DEB` in a build directory configured with
# -DCMAKE_INSTALL_PREFIX=/usr (so that the libraries land in the multiarch directory) writes
#   tokensmith          the command (serve, gateway, agent, ...), its systemd units, the example
#                       configuration and the documentation
#   libtokensmith       the shared libraries (libtokensmith-<lib>.so.<major>, sonames versioned)
#   libtokensmith-dev   headers, the unversioned links, static libraries, pkg-config files and
#                       the CMake package; tokensmith-testutil too, only with
#                       -DTS_PACKAGE_TESTUTIL=ON (it mints tokens for anyone: never by default)
# The split follows the install() rules' components: tokensmith, libtokensmith, dev, testutil.
# Dependencies on system libraries come from dpkg-shlibdeps. No maintainer script enables or
# starts a unit: the units need /etc/tokensmith/<name>.json first (docs/operations.md,
# "Packages").
option(TS_PACKAGE_TESTUTIL "Put tokensmith-testutil (test-only: it mints tokens) into libtokensmith-dev" OFF)
set(TS_PACKAGE_MAINTAINER "tokensmith maintainers <tokensmith@openchami.org>"
    CACHE STRING "Maintainer field of the Debian packages")
set(TS_PACKAGE_RELEASE "1" CACHE STRING "Debian revision of the packages (the part after '-')")

set(ts_pkg_dir ${PROJECT_BINARY_DIR}/packaging/deb)
file(MAKE_DIRECTORY ${ts_pkg_dir})

# Every package carries /usr/share/doc/<package>/{copyright,changelog.Debian.gz} (Debian policy
# 12.5 and 12.7; lintian refuses packages without them). Only packages install them: a plain
# `cmake --install` is unchanged (EXCLUDE_FROM_ALL).
set(ts_copyright "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tokensmith
Comment: A C11 token service (OAuth 2.0 token exchange, JWKS, gateway, agent) and the libraries
 a C service needs to verify and authorize tokens (authn, authz, mhd, store, oidc, client).
 Generated from cmake/Packaging.cmake.

Files: *
Copyright: 2026 the tokensmith authors
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy of this software
 and associated documentation files (the \"Software\"), to deal in the Software without
 restriction, including without limitation the rights to use, copy, modify, merge, publish,
 distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in all copies or
 substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
 BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
 NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
 DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
")
file(WRITE ${ts_pkg_dir}/copyright "${ts_copyright}")
# The changelog's date is the source's (SOURCE_DATE_EPOCH when set), so that two builds of one
# tree make the same packages.
string(TIMESTAMP ts_pkg_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE ${ts_pkg_dir}/changelog.Debian
  "tokensmith (${PROJECT_VERSION}-${TS_PACKAGE_RELEASE}) unstable; urgency=medium\n\n"
  "  * Built with CPack from the tokensmith source tree (docs/operations.md).\n\n"
  " -- ${TS_PACKAGE_MAINTAINER}  ${ts_pkg_date}\n")
execute_process(COMMAND gzip -9nc ${ts_pkg_dir}/changelog.Debian
  OUTPUT_FILE ${ts_pkg_dir}/changelog.Debian.gz RESULT_VARIABLE ts_gz)
if(NOT ts_gz EQUAL 0)
  message(FATAL_ERROR "Packaging: gzip failed (${ts_gz})")
endif()
foreach(comp_pkg tokensmith:tokensmith libtokensmith:libtokensmith dev:libtokensmith-dev)
  string(REPLACE ":" ";" comp_pkg ${comp_pkg})
  list(GET comp_pkg 0 comp)
  list(GET comp_pkg 1 pkg)
  install(FILES ${ts_pkg_dir}/copyright ${ts_pkg_dir}/changelog.Debian.gz
    DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${pkg} COMPONENT ${comp} EXCLUDE_FROM_ALL)
endforeach()
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/tokensmith
  COMPONENT tokensmith EXCLUDE_FROM_ALL)
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/tokensmith/docs
  COMPONENT tokensmith EXCLUDE_FROM_ALL FILES_MATCHING PATTERN "*.md")

# Maintainer scripts of tokensmith: systemd re-reads its units when they arrive, change or go;
# a removal stops the units first. Nothing is enabled or started here (each unit has
# ConditionPathExists= on its configuration), and a purge keeps /var/lib/tokensmith*: the state
# holds the signing keys and the store, which an operator removes on purpose.
set(ts_reload "if [ -d /run/systemd/system ]; then\n  systemctl --system daemon-reload >/dev/null || true\nfi\n")
file(WRITE ${ts_pkg_dir}/postinst "#!/bin/sh\nset -e\n${ts_reload}")
file(WRITE ${ts_pkg_dir}/postrm "#!/bin/sh\nset -e\n${ts_reload}")
file(WRITE ${ts_pkg_dir}/prerm "#!/bin/sh\nset -e\n"
  "if [ \"$1\" = remove ] && [ -d /run/systemd/system ]; then\n"
  "  deb-systemd-invoke stop tokensmith.service tokensmith-gateway.service "
  "tokensmith-agent.service >/dev/null || true\n"
  "fi\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tokensmith)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR tokensmith)
set(CPACK_PACKAGE_CONTACT "${TS_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL tokensmith libtokensmith dev)
if(TS_PACKAGE_TESTUTIL)
  list(APPEND CPACK_COMPONENTS_ALL testutil)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${TS_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TS_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

# One package per component, except testutil, which joins dev's package (group devel).
set(CPACK_DEBIAN_TOKENSMITH_PACKAGE_NAME tokensmith)
set(CPACK_DEBIAN_TOKENSMITH_PACKAGE_SECTION net)
set(CPACK_DEBIAN_TOKENSMITH_PACKAGE_CONTROL_EXTRA
  ${ts_pkg_dir}/postinst ${ts_pkg_dir}/prerm ${ts_pkg_dir}/postrm)
set(CPACK_DEBIAN_TOKENSMITH_PACKAGE_RECOMMENDS "systemd")
# Descriptions: a summary line, then the long text (CPack indents it; "." is an empty line).
set(CPACK_DEBIAN_TOKENSMITH_DESCRIPTION "token service, gateway and agent for OpenCHAMI
tokensmith issues and exchanges OAuth 2.0 tokens (RFC 8693 token exchange,
refresh tokens, bootstrap tokens, JWKS and OpenID metadata), verifies and
authorizes them in front of other services (ext_authz and auth_request
gateway) and keeps tokens fresh for local programs (agent).
.
This package holds the tokensmith command, its systemd units (Type=notify,
hardened, DynamicUser) and an example configuration in /usr/share/tokensmith.")

set(CPACK_DEBIAN_LIBTOKENSMITH_PACKAGE_NAME libtokensmith)
set(CPACK_DEBIAN_LIBTOKENSMITH_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_LIBTOKENSMITH_DESCRIPTION "tokensmith libraries: JWT verification and authorization
The shared libraries of tokensmith: authn (JOSE, JWT verification, key
sources), authz (Casbin-compatible policy engine), mhd (the gate for
libmicrohttpd services), store, oidc and client (obtains and refreshes
OAuth 2.0 tokens).")
# ldconfig runs through dpkg's trigger (CPack's postinst and postrm call it as well).
file(WRITE ${ts_pkg_dir}/triggers "activate-noawait ldconfig\n")
set(CPACK_DEBIAN_LIBTOKENSMITH_PACKAGE_CONTROL_EXTRA ${ts_pkg_dir}/triggers)

set(CPACK_COMPONENT_DEV_GROUP devel)
set(CPACK_COMPONENT_TESTUTIL_GROUP devel)
set(CPACK_DEBIAN_DEVEL_PACKAGE_NAME libtokensmith-dev)
set(CPACK_DEBIAN_DEVEL_PACKAGE_SECTION libdevel)
# The exact libraries, and what the static libraries, pkg-config files and CMake package name.
set(CPACK_DEBIAN_DEVEL_PACKAGE_DEPENDS
  "libtokensmith (= ${PROJECT_VERSION}-${TS_PACKAGE_RELEASE}), libssl-dev, libjansson-dev, libcurl4-openssl-dev | libcurl-dev, libmicrohttpd-dev, libgnutls28-dev, libpcre2-dev, libsqlite3-dev, libpq-dev")
set(CPACK_DEBIAN_DEVEL_PACKAGE_RECOMMENDS "pkg-config")
# testutil's shared library needs libtokensmith's: dpkg-shlibdeps finds them in that package's
# staging directory (beside this one; the dependency itself is the one written above).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS
  ../libtokensmith${CPACK_PACKAGING_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR})
if(TS_PACKAGE_TESTUTIL)
  set(CPACK_DEBIAN_DEVEL_PACKAGE_CONTROL_EXTRA ${ts_pkg_dir}/triggers)
endif()
set(CPACK_DEBIAN_DEVEL_DESCRIPTION "tokensmith libraries: development files
Headers, pkg-config files (tokensmith-authn, -authz, -mhd, -store, -oidc,
-client), the CMake package (find_package(tokensmith)) and static libraries
of tokensmith.")
if(TS_PACKAGE_TESTUTIL)
  string(APPEND CPACK_DEBIAN_DEVEL_DESCRIPTION "
.
Also tokensmith-testutil: TEST-ONLY fixtures that mint tokens for anyone;
never link it into a production program.")
endif()

include(CPack)
